"""Memory that grows 8 MiB at a time until the address-space limit stops it."""
hoard = []
for _ in range(10_000):
    hoard.append(bytearray(8 << 20))
print("WORK DONE")
