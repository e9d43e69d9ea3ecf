# join 的顺序 (ordering joins) — starter code. Read README.md first.
#
# p.start() starts a process and returns at once; p.join() waits until that process ends.
# Where you put the joins decides whether the processes run at the same time or one
# after another.
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
    # TODO
    print('主进程')
    return time.time() - start_time


def run_in_order(specs):
    """Run task(name, sec) for every (name, sec) in specs, one after another."""
    # TODO


if __name__ == '__main__':
    print(run_all([('zs', 2), ('zs2', 7), ('zs3', 5)]))
    run_in_order([('p1', 1), ('p2', 1), ('p3', 1)])
