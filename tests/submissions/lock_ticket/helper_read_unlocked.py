# 抢票系统 with a helper that does every read, but the lock is taken only around the
# write: paid() reads the count unlocked, so two buyers can both read count=1.
from multiprocessing import Process, Lock
import json
import time
import os
import random

LOCK = []


def read_count():
    with open('ticket.json', encoding='utf-8') as f:
        return json.load(f)['count']


def write_count(count):
    with open('ticket.json', 'w', encoding='utf-8') as f:
        json.dump({'count': count}, f)


def search():
    time.sleep(random.randint(1, 3))
    print(f'{os.getpid()}查看了票数,剩余{read_count()}')


def paid():
    count = read_count()  # no lock here: the race
    if count > 0:
        time.sleep(random.randint(1, 3))
        with LOCK[0]:
            write_count(count - 1)
        print(f'{os.getpid()}购买成功')


def task(lock):
    search()
    LOCK.append(lock)
    paid()


if __name__ == '__main__':
    lock = Lock()
    buyers = [Process(target=task, args=(lock,)) for _ in range(6)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join()
