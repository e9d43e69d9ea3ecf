"""``python -m ipcgrader`` is ``ipcgrade``."""

from ipcgrader.cli import console_main

if __name__ == "__main__":
    console_main()
