"""pipe_echo: the student's echo_server(conn) in a child process; this process is the
client. A reply is awaited until it comes or the server process has ended (then it is
recorded as missing); a server still running 3 s after it was sent None did not stop, nor
did one that ended with an exception (a non-zero exit code) when it got None."""

import multiprocessing
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from pe_probe import Observations  # noqa: E402


def drive(student, words):
    server = student.echo_server
    seen = Observations()
    mine, theirs = multiprocessing.Pipe()
    process = multiprocessing.Process(target=server, args=(theirs,), name="echo_server")
    process.start()
    theirs.close()  # only the server holds that end now: its exit means EOF here
    replies = []
    seen.set(replies=replies, stopped_on_none=False, exitcode=None)
    for word in words:
        try:
            mine.send(word)
            while not mine.poll(0.05) and process.is_alive():
                pass
            if not mine.poll(0):  # the server ended without answering
                replies.append("(no reply)")
                break
            replies.append(mine.recv())
        except (EOFError, OSError):
            replies.append("(connection closed)")
            break
        seen.set(replies=replies)
    try:
        mine.send(None)
    except OSError:
        pass
    process.join(3.0)
    ended = process.exitcode is not None
    if not ended:
        process.kill()
        process.join()
    crashed = ended and process.exitcode != 0
    seen.set(
        replies=replies,
        # a server that died of an exception on None did not stop because it got None
        stopped_on_none=ended and not crashed,
        exitcode=process.exitcode,
        crashed=crashed,
    )
