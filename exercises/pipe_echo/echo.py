# 管道通信 (talking over a pipe) — starter code. Read README.md first.
#
# Pipe() returns two connected ends: what is sent on one end is received on the other.
# recv() waits for a message; when the other end has been closed (in every process)
# and nothing is left, recv() raises EOFError.
from multiprocessing import Process, Pipe


def echo_server(conn):
    """Receive messages until None or end of file; send each back upper-cased;
    then close conn."""
    # TODO


def main():
    parent_conn, child_conn = Pipe()
    # TODO: run echo_server in a child process with one end of the pipe;
    #       send 'hello', 'pipe' and 'echo' on the other end and print each reply;
    #       then send None, join the server and close the ends


if __name__ == '__main__':
    main()
