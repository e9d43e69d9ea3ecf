"""Reads standard input, which must be at end of file (not a terminal, not a hang)."""
import sys

data = sys.stdin.read()
try:
    answer = input("your answer? ")
except EOFError:
    answer = None
print(f"stdin had {len(data)} characters, input() gave {answer!r}")
print("WORK DONE")
