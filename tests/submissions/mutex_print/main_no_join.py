# mutex_print variant — main() starts the three and returns without joining them: fine
# under fork, but under spawn the lock main() made is freed when it returns, before the
# children have received it (FileNotFoundError in every child).
from multiprocessing import Process
from multiprocessing import Lock
import time
import random


def task(name, lock):
    # 上锁
    lock.acquire()
    try:
        print(f'{name}开始打印了')
        time.sleep(random.randint(1, 3))
        print(f'{name}打印结束了')
    finally:
        # 解锁 释放掉
        lock.release()


def main():
    mutex = Lock()  # made here and passed to each process: they all share this one
    processes = [Process(target=task, args=(name, mutex)) for name in ('p1', 'p2', 'p3')]
    for p in processes:
        p.start()  # all three start together and compete for the lock: first come, first served


if __name__ == "__main__":
    main()
