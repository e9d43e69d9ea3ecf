"""Kills its own parent (the grader's supervisor), then carries on."""
import os
import signal
import time

parent = os.getppid()
for sig in (signal.SIGTERM, signal.SIGKILL):
    try:
        os.kill(parent, sig)
    except OSError as exc:
        print(f"kill parent: {exc}")
time.sleep(0.3)
print("WORK DONE")
