# pipe_echo variant — main() sends every word first, then prints replies while poll(1)
# finds one within a second: a server slower than that is a legal schedule, so replies are
# lost in some runs and not in others (echo_server() itself is correct).
from multiprocessing import Process, Pipe


def echo_server(conn):
    with conn:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            conn.send(message.upper())


def main():
    parent_conn, child_conn = Pipe()
    server = Process(target=echo_server, args=(child_conn,))
    server.start()
    child_conn.close()
    for word in ['hello', 'pipe', 'echo']:
        parent_conn.send(word)
    while parent_conn.poll(1):  # nothing within a second: taken as "no more replies"
        print(parent_conn.recv())
    parent_conn.send(None)
    server.join()
    parent_conn.close()


if __name__ == '__main__':
    main()
