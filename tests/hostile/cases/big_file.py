"""A GB-sized file in the run folder (the file-size limit is 4 MiB)."""
block = bytes(1 << 20)
with open("big.bin", "wb") as handle:
    for _ in range(1024):
        handle.write(block)
print("WORK DONE")
