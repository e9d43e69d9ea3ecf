"""Hundreds of MB of output (300 MiB; the cap is 64 KiB)."""
import sys

sys.stdout.write("FIRST LINE\n")
chunk = ("flood " * 174_763)[: 1 << 20]
for _ in range(300):
    sys.stdout.write(chunk)
print("WORK DONE")
