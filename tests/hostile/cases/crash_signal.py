"""Crashes with a signal (SIGABRT) after some output."""
import os

print("about to crash", flush=True)
os.abort()
