"""Writes bytes that are not UTF-8 to stdout and stderr."""
import sys

sys.stdout.buffer.write(b"bad \xff\xfe\x80 bytes \xc3\x28 here\n")
sys.stdout.buffer.flush()
sys.stderr.buffer.write(b"\xed\xa0\x80 surrogate, \xf8\x88\x80\x80\x80 too long\n")
sys.stderr.buffer.flush()
print("WORK DONE")
