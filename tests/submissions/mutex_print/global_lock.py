# mutex_print variant — fork-only: task() uses a module-level Lock instead of its lock parameter.
from multiprocessing import Process
from multiprocessing import Lock
import time
import random


mutex = Lock()


def task(name, lock):
    with mutex:
        print(f'{name}开始打印了')
        time.sleep(random.randint(1, 3))
        print(f'{name}打印结束了')


def main():
    processes = [Process(target=task, args=(name, mutex)) for name in ('p1', 'p2', 'p3')]
    for p in processes:
        p.start()
    for p in processes:
        p.join()


if __name__ == "__main__":
    main()
