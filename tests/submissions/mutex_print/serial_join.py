# mutex_print variant — wrong: main() serialises with start-join-start-join (no competition for the lock).
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
    mutex = Lock()
    p1 = Process(target=task, args=('p1', mutex))
    p2 = Process(target=task, args=('p2', mutex))
    p3 = Process(target=task, args=('p3', mutex))
    p1.start()
    p1.join()
    p2.start()
    p2.join()
    p3.start()
    p3.join()


if __name__ == "__main__":
    main()
