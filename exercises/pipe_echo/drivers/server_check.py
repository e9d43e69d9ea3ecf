"""pipe_echo: the student's echo_server(conn) in a child process; this process is the
client. Replies are awaited with a bounded poll(), so a server that never answers is
recorded as silent instead of hanging the run."""

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
            if not mine.poll(2.0):
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
    process.join(1.0)
    stopped = process.exitcode is not None
    if not stopped:
        process.kill()
        process.join()
    seen.set(
        replies=replies,
        stopped_on_none=stopped,
        exitcode=process.exitcode,
        crashed=stopped and process.exitcode != 0,
    )
