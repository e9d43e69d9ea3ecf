"""Driver of the shared_tickets scenarios: ``trains * per_train`` buyer processes run the
student's ``buy(left, sold, train, lock)`` (buyer i on train ``i % trains``) with one shared
multiprocessing.Lock, all started, then all joined.

``store = "memory"``: ``left`` is a multiprocessing.Array and ``sold`` a multiprocessing.Value;
``store = "manager"``: ``left`` is a Manager().dict() keyed by train number and ``sold`` a
Manager().Value. The last reads, after every buyer ended, are what the counters hold at the
end, which the final_state checks judge; the line they print is for the student.
"""

import multiprocessing


def drive(student, store, trains, per_train, tickets):
    buy = student.buy  # AttributeError here is reported as "tickets.py has no function buy()"
    lock = multiprocessing.Lock()
    manager = multiprocessing.Manager() if store == "manager" else None
    try:
        if manager is not None:
            left = manager.dict({train: tickets for train in range(trains)})
            sold = manager.Value("i", 0)
        else:
            left = multiprocessing.Array("i", [tickets] * trains)
            sold = multiprocessing.Value("i", 0)
        buyers = [
            multiprocessing.Process(target=buy, args=(left, sold, i % trains, lock))
            for i in range(trains * per_train)
        ]
        for process in buyers:
            process.start()
        for process in buyers:
            process.join()
        print(f"余票 {[left[train] for train in range(trains)]}，共售出 {sold.value} 张")
    finally:
        if manager is not None:
            manager.shutdown()
