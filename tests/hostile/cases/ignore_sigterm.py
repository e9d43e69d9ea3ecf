"""Ignores SIGTERM, in itself and in a child, and never ends: only KILL stops it."""
import os
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.fork()
while True:
    time.sleep(1)
