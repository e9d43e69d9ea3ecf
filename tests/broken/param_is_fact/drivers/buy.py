"""Start ``buyers`` processes running the student's task(lock), then join them."""

import multiprocessing


def drive(student, tickets, buyers):
    lock = multiprocessing.Lock()
    workers = [multiprocessing.Process(target=student.task, args=(lock,)) for _ in range(buyers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
