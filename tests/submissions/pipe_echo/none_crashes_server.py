# 管道通信 (talking over a pipe) — echo_server() stops only on EOFError: the None that main()
# sends makes it die of AttributeError (None.upper()). Dying is not stopping
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
    parent_conn.send(None)
    server.join()
    parent_conn.close()


if __name__ == '__main__':
    main()
