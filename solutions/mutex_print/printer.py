# 互斥锁 (mutex printing) — reference solution.
from multiprocessing import Process
from multiprocessing import Lock
import time
import random


def task(name, lock):
    with lock:  # both lines inside: nobody else prints in between
        print(f'{name}开始打印了')
        time.sleep(random.randint(1, 3))
        print(f'{name}打印结束了')


def main():
    mutex = Lock()  # made here and passed to each process: they all share this one
    processes = [Process(target=task, args=(name, mutex)) for name in ('p1', 'p2', 'p3')]
    for p in processes:
        p.start()  # all three start together and compete for the lock: first come, first served
    for p in processes:
        p.join()


if __name__ == "__main__":
    main()
