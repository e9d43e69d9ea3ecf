# 抢票系统 (ticket system) — wrong: two locks of a Manager taken in opposite orders (the classic
# deadlock, through the Manager's server process).
from multiprocessing import Process
from multiprocessing import Manager
from multiprocessing import Barrier
import json
import time
import os
import random


def search():
    """查看余票: print how many tickets are left (concurrently, no lock needed)."""
    time.sleep(random.randint(1, 3))
    with open('ticket.json', encoding='utf-8') as f1:
        dic = json.load(f1)
        print(f'{os.getpid()}查看了票数,剩余{dic["count"]}')


def paid():
    """支付: buy one ticket if any is left. The caller must hold the lock."""
    with open('ticket.json', encoding='utf-8') as f1:
        dic = json.load(f1)
    if dic['count'] > 0:
        dic['count'] -= 1
        time.sleep(random.randint(1, 3))
        with open('ticket.json', encoding='utf-8', mode='w') as f1:
            json.dump(dic, f1)
        print(f'{os.getpid()}购买成功')


def task(lock, other=None, ready=None, flip=False):
    search()
    if other is None:  # as the exercise's driver calls it: one lock, used right
        with lock:
            paid()
        return
    first, second = (other, lock) if flip else (lock, other)
    with first:
        ready.wait()  # the other buyer holds its first lock now
        with second:  # each holds one lock and waits for the other's: deadlock
            paid()


if __name__ == '__main__':
    with Manager() as manager:
        mutex = manager.Lock()
        log_lock = manager.Lock()
        ready = Barrier(2)
        buyers = []
        for i in range(6):
            p = Process(target=task, args=(mutex, log_lock, ready, i % 2 == 1))
            p.start()
            buyers.append(p)
        for p in buyers:
            p.join()
