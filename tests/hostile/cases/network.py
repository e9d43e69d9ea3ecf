"""Tries to connect to a TCP port on 127.0.0.1 and to an abstract unix socket, both opened
by the test (the test replaces PORT and NAME). Never any other address."""
import socket

PORT = 0
NAME = "ipcgrader-hostile"
results = []
for family, address in ((socket.AF_INET, ("127.0.0.1", PORT)), (socket.AF_UNIX, "\0" + NAME)):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(address)
            sock.sendall(b"hello from the sandbox\n")
            results.append("connected")
        except OSError as exc:
            results.append(f"blocked ({exc.strerror})")
print(f"tcp: {results[0]}")
print(f"unix: {results[1]}")
print("WORK DONE")
