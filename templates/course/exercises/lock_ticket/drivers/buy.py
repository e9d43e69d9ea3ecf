"""Driver of the lock_ticket scenarios: ``buyers`` processes run the student's
``task(lock)`` with one shared multiprocessing.Lock, all started, then all joined."""

import multiprocessing


def drive(student, tickets, buyers):
    task = student.task  # AttributeError here is reported as "ticket.py has no function task()"
    lock = multiprocessing.Lock()
    buyers = [multiprocessing.Process(target=task, args=(lock,)) for _ in range(buyers)]
    for process in buyers:
        process.start()
    for process in buyers:
        process.join()
