"""Writes in its own folder (allowed) and next to it (outside its folder)."""
with open("inside.txt", "w") as handle:
    handle.write("mine\n")
try:
    with open("../escape.txt", "w") as handle:
        handle.write("escaped\n")
    print("outside: written")
except OSError as exc:
    print(f"outside: refused ({exc.strerror})")
print("WORK DONE")
