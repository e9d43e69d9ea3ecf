# join_order variant — wrong args: run_all() writes args=(name) (a string, not a tuple), so
# every child calls task() with one argument and dies with a TypeError outside the
# student's code.
from multiprocessing import Process
import time


def task(name, sec):
    print(f'{name} is running')
    time.sleep(sec)
    print(f'{name} is gone')


def run_all(specs):
    start_time = time.time()
    l1 = []
    for name, sec in specs:
        p = Process(target=task, args=(name))
        l1.append(p)
        p.start()
    for i in l1:
        i.join()
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
