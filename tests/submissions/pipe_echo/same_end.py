# pipe_echo variant — wrong: main() gives the server the same end it uses itself (two readers on one end).
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
    server = Process(target=echo_server, args=(parent_conn,))
    server.start()
    for word in ['hello', 'pipe', 'echo']:
        parent_conn.send(word)
        print(parent_conn.recv())
    parent_conn.send(None)
    server.join()


if __name__ == '__main__':
    main()
