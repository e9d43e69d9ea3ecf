# 抢票系统 (ticket system) — the reference solution with set_start_method('fork') at module level:
# it works as in `python ticket.py`; the runs meant for spawn run under fork, and are said to
from multiprocessing import Process
from multiprocessing import Lock
import json
import time
import os
import random
import multiprocessing

multiprocessing.set_start_method('fork')  # as the course suggests on macOS


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


def task(lock):
    search()
    with lock:  # read, decrement and write back as one step: 串行
        paid()


if __name__ == '__main__':
    mutex = Lock()
    buyers = []
    for i in range(6):
        p = Process(target=task, args=(mutex,))
        p.start()
        buyers.append(p)
    for p in buyers:
        p.join()
