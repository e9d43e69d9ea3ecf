"""Burns CPU without end (the test sets a CPU limit of 1 s and a longer wall timeout)."""
while True:
    pass
