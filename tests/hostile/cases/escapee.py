"""Double fork + setsid: a grandchild in a session of its own, with a clean environment
(no run marker) and a recognisable name, outlives the main process."""
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sleep", ["ipcgrader-hostile-escapee", "30"], {})
    os._exit(0)
os.wait()
time.sleep(0.1)
print("WORK DONE")
