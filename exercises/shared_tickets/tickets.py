# 抢票系统，共享内存版 (ticket system in shared memory) — starter code. Read README.md first.
#
# The tickets left are no longer in ticket.json but in memory the processes share:
# left[train] holds the tickets left on each train (a multiprocessing.Array, or a
# Manager().dict() keyed by train number), and sold.value counts every ticket sold (a
# multiprocessing.Value, or a Manager().Value). `left[train] -= 1` and
# `sold.value += 1` each read the value and write it back: two steps, whichever of them
# it is. Make buy() hold the lock around them.
from multiprocessing import Process, Lock, Array, Value
import os
import time
import random


def buy(left, sold, train, lock):
    """购票: buy one ticket on `train` if any is left, and count it in `sold`."""
    # TODO: only one buyer at a time may buy. Use the lock.
    if left[train] > 0:
        time.sleep(random.randint(1, 3))
        left[train] -= 1
        sold.value += 1
        print(f'{os.getpid()}购买成功')


if __name__ == '__main__':
    mutex = Lock()
    left = Array('i', [2, 2])  # 2 trains, 2 tickets each
    sold = Value('i', 0)
    buyers = [Process(target=buy, args=(left, sold, i % 2, mutex)) for i in range(6)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join()
    print(f'余票 {left[:]}，共售出 {sold.value} 张')
