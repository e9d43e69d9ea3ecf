"""A multi-GB allocation at import (the limit is 256 MiB: it fails at once)."""
hoard = bytearray(4 << 30)
print("WORK DONE")
