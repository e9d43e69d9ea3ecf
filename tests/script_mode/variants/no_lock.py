"""TICKET_FILE=ticket.json python ticket.py --buyers N: N buyer processes, no lock (races)."""

import argparse
import json
import multiprocessing
import os
import sys
import time

FILE = os.environ["TICKET_FILE"]  # the spec sets it: KeyError if it did not reach us


def search():
    with open(FILE, encoding="utf-8") as handle:
        print(f"{os.getpid()} 查看了票数: {json.load(handle)['count']}")


def paid():
    with open(FILE, encoding="utf-8") as handle:
        data = json.load(handle)
    if data["count"] <= 0:
        return False
    time.sleep(0.1)
    data["count"] -= 1
    with open(FILE, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    print(f"{os.getpid()} 购买成功")
    return True


def buyer(lock):
    search()
    bought = paid()  # no lock: two buyers can both take the last ticket
    sys.exit(0 if bought else 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, required=True)
    count = parser.parse_args().buyers
    lock = multiprocessing.Lock()
    buyers = [multiprocessing.Process(target=buyer, args=(lock,)) for _ in range(count)]
    for process in buyers:
        process.start()
    for process in buyers:
        process.join()
    print("售票结束")
