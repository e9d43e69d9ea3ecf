# pipe_echo variant — wrong: echo_server() catches EOFError and keeps reading (loops for ever).
from multiprocessing import Process, Pipe


def echo_server(conn):
    while True:
        try:
            message = conn.recv()
        except EOFError:
            continue  # nothing yet, try again
        if message is None:
            break
        conn.send(message.upper())
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
