# 抢票系统 with a helper that does every read: search() calls it without the lock (a look),
# paid() calls it under the lock and writes the count back. Correct.
from multiprocessing import Process, Lock
import json
import time
import os
import random


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
    count = read_count()
    if count > 0:
        time.sleep(random.randint(1, 3))
        write_count(count - 1)
        print(f'{os.getpid()}购买成功')


def task(lock):
    search()
    with lock:
        paid()


if __name__ == '__main__':
    lock = Lock()
    buyers = [Process(target=task, args=(lock,)) for _ in range(6)]
    for p in buyers:
        p.start()
    for p in buyers:
        p.join()
