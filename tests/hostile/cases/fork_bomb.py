"""A fork bomb: every process forks again, then spins. Bounded even if nothing stopped it:
a binary tree 9 deep (512 processes at most), each spinning for 20 s at most."""
import os
import time

for _ in range(9):
    try:
        os.fork()
    except OSError:
        pass
end = time.monotonic() + 20
while time.monotonic() < end:
    pass
