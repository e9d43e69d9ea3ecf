# 抢票系统，共享内存版 — RawArray and RawValue (no lock of their own) and no lock taken in
# buy(): every update is a read and a write that another buyer can come between.
from multiprocessing import Process, Lock, RawArray, RawValue
import os
import time
import random


def buy(left, sold, train, lock):
    if left[train] > 0:
        time.sleep(random.randint(1, 3))
        left[train] -= 1
        sold.value += 1
        print(f'{os.getpid()}购买成功')


if __name__ == '__main__':
    mutex = Lock()
    left = RawArray('i', [2, 2])
    sold = RawValue('i', 0)
    buyers = [Process(target=buy, args=(left, sold, i % 2, mutex)) for i in range(6)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join()
    print(f'余票 {left[:]}，共售出 {sold.value} 张')
