# Starter of the hostile corpus exercise: each case in tests/hostile/cases replaces it.
print("WORK DONE")
