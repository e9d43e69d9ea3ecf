"""Recursion without end at import time."""


def deeper(n):
    return deeper(n + 1) + 1


deeper(0)
print("WORK DONE")
