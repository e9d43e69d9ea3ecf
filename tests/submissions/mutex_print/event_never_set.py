# mutex_print variant — wrong: the workers wait for a start signal (an Event) that main()
# never gives, so every process waits forever (a deadlock through an Event).
from multiprocessing import Event, Lock, Process
import random
import time


def task(name, lock, go=None):
    if go is not None:
        go.wait()  # nobody ever calls go.set()
    with lock:
        print(f'{name}开始打印了')
        time.sleep(random.randint(1, 3))
        print(f'{name}打印结束了')


def main():
    mutex, go = Lock(), Event()
    processes = [Process(target=task, args=(name, mutex, go)) for name in ('p1', 'p2', 'p3')]
    for p in processes:
        p.start()
    for p in processes:
        p.join()


if __name__ == "__main__":
    main()
