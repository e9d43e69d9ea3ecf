"""Kills its own process group (itself and its child included)."""
import os
import signal
import time

if os.fork() == 0:
    time.sleep(30)
    os._exit(0)
os.killpg(0, signal.SIGKILL)
time.sleep(30)
print("WORK DONE")
