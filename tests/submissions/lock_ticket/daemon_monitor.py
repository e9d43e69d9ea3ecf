# 抢票系统 with a watcher: a daemon process prints the count now and then and is left to
# be killed when the main process exits (the usual monitor loop).
from multiprocessing import Process
from multiprocessing import Lock
import json
import time
import os
import random


def search():
    time.sleep(random.randint(1, 3))
    with open('ticket.json', encoding='utf-8') as f1:
        dic = json.load(f1)
        print(f'{os.getpid()}查看了票数,剩余{dic["count"]}')


def paid():
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
    with lock:
        paid()


def monitor():
    while True:
        with open('ticket.json', encoding='utf-8') as f:
            print('监控: 剩余', json.load(f)['count'])
        time.sleep(1)


if __name__ == '__main__':
    mutex = Lock()
    watcher = Process(target=monitor, daemon=True)
    watcher.start()
    buyers = []
    for i in range(6):
        p = Process(target=task, args=(mutex,))
        p.start()
        buyers.append(p)
    for p in buyers:
        p.join()
