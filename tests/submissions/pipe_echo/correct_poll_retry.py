# pipe_echo variant — correct: main() waits for each reply with poll(0.5) in a loop that
# goes on until a reply is there, then receives it.
from multiprocessing import Process, Pipe


def echo_server(conn):
    with conn:  # closes conn at the end
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
    child_conn.close()  # that end is the server's now; main() talks on parent_conn only
    for word in ['hello', 'pipe', 'echo']:
        parent_conn.send(word)
        while not parent_conn.poll(0.5):
            continue  # the server is slow, not gone
        print(parent_conn.recv())
    parent_conn.send(None)
    server.join()
    parent_conn.close()


if __name__ == '__main__':
    main()
