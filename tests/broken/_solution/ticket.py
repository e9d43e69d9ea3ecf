"""A correct solution of tests/broken/_valid: it must never be charged for the exercise's
mistakes (every broken copy is rejected before it is graded)."""

import json
import multiprocessing
import sys


def task(lock):
    with lock:
        with open("ticket.json", encoding="utf-8") as handle:
            data = json.load(handle)
        if data["count"] > 0:
            data["count"] -= 1
            with open("ticket.json", "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            print("购买成功")


if __name__ == "__main__":
    buyers = int(sys.argv[sys.argv.index("--buyers") + 1]) if "--buyers" in sys.argv else 2
    lock = multiprocessing.Lock()
    workers = [multiprocessing.Process(target=task, args=(lock,)) for _ in range(buyers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
