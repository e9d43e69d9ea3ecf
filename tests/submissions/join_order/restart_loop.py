# join_order variant — run_all() starts and joins its processes inside an endless
# `while True:` loop (corpus hulu7): it never returns. The check stops it at its second
# round's end (twice as many start() calls as specs), judged at once, not at the timeout.
from multiprocessing import Process
import time


def task(name, sec):
    print(f'{name} is running')
    time.sleep(sec)
    print(f'{name} is gone')


def run_all(specs):
    start_time = time.time()
    while True:
        l1 = []
        for name, sec in specs:
            p = Process(target=task, args=(name, sec))
            l1.append(p)
            p.start()
        for i in l1:
            i.join()
        print('主进程', time.time() - start_time)


def run_in_order(specs):
    """Run task(name, sec) for every (name, sec) in specs, one after another."""
    for name, sec in specs:
        p = Process(target=task, args=(name, sec))
        p.start()
        p.join()  # wait for this one before starting the next


if __name__ == '__main__':
    print(run_all([('zs', 2), ('zs2', 7), ('zs3', 5)]))
    run_in_order([('p1', 1), ('p2', 1), ('p3', 1)])
