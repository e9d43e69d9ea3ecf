# 抢票系统，共享内存版 — the counters have no lock of their own (Array and Value made with
# lock=False): the one Lock passed to buy() guards every read and write. Correct.
from multiprocessing import Process, Lock, Array, Value
import os
import time
import random


def buy(left, sold, train, lock):
    with lock:
        if left[train] > 0:
            time.sleep(random.randint(1, 3))
            left[train] -= 1
            sold.value += 1
            print(f'{os.getpid()}购买成功')


if __name__ == '__main__':
    mutex = Lock()
    left = Array('i', [2, 2], lock=False)  # plain shared memory: mutex is its only lock
    sold = Value('i', 0, lock=False)
    buyers = [Process(target=buy, args=(left, sold, i % 2, mutex)) for i in range(6)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join()
    print(f'余票 {left[:]}，共售出 {sold.value} 张')
