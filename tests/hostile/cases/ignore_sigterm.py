"""Ignores SIGTERM, in itself and in a child, and does not end (for 60 s at most): only
KILL stops it in time."""
import os
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.fork()
for _ in range(60):
    time.sleep(1)
