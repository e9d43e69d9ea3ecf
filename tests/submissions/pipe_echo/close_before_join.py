# 管道通信 (talking over a pipe) — main() closes its end instead of sending None, then joins:
# under spawn the server gets EOFError and ends; under fork it never does, main() hangs in join()
from multiprocessing import Process, Pipe


def echo_server(conn):
    """Receive messages until None or end of file; send each back upper-cased;
    then close conn."""
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the other end was closed: nobody will send more
                break
            if message is None:
                break
            conn.send(message.upper())
    finally:
        conn.close()


def main():
    parent_conn, child_conn = Pipe()
    server = Process(target=echo_server, args=(child_conn,))
    server.start()
    child_conn.close()  # that end is the server's now; main() talks on parent_conn only
    for word in ['hello', 'pipe', 'echo']:
        parent_conn.send(word)
        print(parent_conn.recv())
    parent_conn.close()  # instead of send(None): a forked server still holds a copy of this end
    server.join()


if __name__ == '__main__':
    main()
