"""A swarm of 300 idle children (more than the run's process limit of 40)."""
import os
import time

for _ in range(300):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
time.sleep(30)
print("WORK DONE")
