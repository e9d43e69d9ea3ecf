# 抢票系统 (ticket system) — starter code. Read README.md first.
#
# Six buyers run at once. search() may run concurrently, but paid() reads the count,
# decrements it and writes it back: two buyers doing that at the same time can both see
# count=1 and both "buy" the last ticket. Make task() hold the lock around paid().
from multiprocessing import Process
from multiprocessing import Lock
import json
import time
import os
import random


def search():
    """查看余票: print how many tickets are left."""
    time.sleep(random.randint(1, 3))
    with open('ticket.json', encoding='utf-8') as f1:
        dic = json.load(f1)
        print(f'{os.getpid()}查看了票数,剩余{dic["count"]}')


def paid():
    """支付: buy one ticket if any is left."""
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
    # TODO: only one buyer at a time may pay. Use the lock.
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
