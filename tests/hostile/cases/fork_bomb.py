"""A fork bomb: every process forks again, then spins. Bounded: a binary tree 10 deep
(1024 processes at most), so it cannot take the machine's pid space even if unchecked."""
import os

for _ in range(10):
    try:
        os.fork()
    except OSError:
        pass
while True:
    pass
