# join 的顺序 (ordering joins) — reference solution.
from multiprocessing import Process
import time


def task(name, sec):
    print(f'{name} is running')
    time.sleep(sec)
    print(f'{name} is gone')


def run_all(specs):
    """Run task(name, sec) for every (name, sec) in specs, all at the same time.
    Print 主进程 when they are all gone; return the seconds it took."""
    start_time = time.time()
    processes = [Process(target=task, args=(name, sec)) for name, sec in specs]
    for p in processes:
        p.start()  # start them all first: they run at the same time
    for p in processes:
        p.join()  # then wait for each; the longest one decides how long this takes
    print('主进程')
    return time.time() - start_time


def run_in_order(specs):
    """Run task(name, sec) for every (name, sec) in specs, one after another."""
    for name, sec in specs:
        p = Process(target=task, args=(name, sec))
        p.start()
        p.join()  # wait for this one before starting the next


if __name__ == '__main__':
    print(run_all([('zs', 2), ('zs2', 7), ('zs3', 5)]))
    run_in_order([('p1', 1), ('p2', 1), ('p3', 1)])
