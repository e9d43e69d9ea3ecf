# 抢票系统，共享内存版 — the tickets are taken under the lock, but the sale is counted after
# it is released: sold.value += 1 (a Value, a Manager Value) with no lock held.
from multiprocessing import Process, Lock, Array, Value
import os
import time
import random


def buy(left, sold, train, lock):
    with lock:
        bought = left[train] > 0
        if bought:
            time.sleep(random.randint(1, 3))
            left[train] -= 1
    if bought:
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
