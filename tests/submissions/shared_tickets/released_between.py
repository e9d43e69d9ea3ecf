# 抢票系统，共享内存版 — the lock is taken for the check and again for the update: another
# buyer can read the same count in between.
from multiprocessing import Process, Lock, Array, Value
import os
import time
import random


def buy(left, sold, train, lock):
    with lock:
        count = left[train]
    if count > 0:
        time.sleep(random.randint(1, 3))
        with lock:
            left[train] = count - 1
            sold.value += 1
        print(f'{os.getpid()}购买成功')


if __name__ == '__main__':
    mutex = Lock()
    left = Array('i', [2, 2])
    sold = Value('i', 0)
    buyers = [Process(target=buy, args=(left, sold, i % 2, mutex)) for i in range(6)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join()
    print(f'余票 {left[:]}，共售出 {sold.value} 张')
