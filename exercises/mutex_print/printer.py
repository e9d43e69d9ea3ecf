# 互斥锁 (mutex printing) — starter code. Read README.md first.
#
# Three processes print at the same time, so their lines get mixed up. Make each one
# hold the lock while it prints its two lines, so one finishes before the next begins.
from multiprocessing import Process
from multiprocessing import Lock
import time
import random


def task(name, lock):
    # TODO: hold the lock from the first print to the last
    print(f'{name}开始打印了')
    time.sleep(random.randint(1, 3))
    print(f'{name}打印结束了')


def main():
    mutex = Lock()
    p1 = Process(target=task, args=('p1', mutex))
    p2 = Process(target=task, args=('p2', mutex))
    p3 = Process(target=task, args=('p3', mutex))
    # TODO: start all three, then join all three


if __name__ == "__main__":
    main()
