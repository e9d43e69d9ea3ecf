"""pipe_echo: the student's echo_server(conn) in a thread of this process, so that what
it does to its own connection is visible: is it closed when the server returns? Two
sessions: one ended by sending None, one ended by closing the client's end (EOF)."""

import multiprocessing
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from pe_probe import Call, Observations  # noqa: E402


def reply(mine, call):
    """The server's answer, or a placeholder if the server returned without one."""
    while not mine.poll(0.02):
        if call.done.is_set() and not mine.poll(0):
            return "(no reply)"
    try:
        return mine.recv()
    except EOFError:
        return "(connection closed)"


def session(server, words, end_with_none):
    mine, theirs = multiprocessing.Pipe()
    call = Call(server, theirs)
    replies = []
    try:
        for word in words:
            mine.send(word)
            replies.append(reply(mine, call))
            if replies[-1].startswith("("):
                break
        if end_with_none:
            mine.send(None)
    except OSError:  # the server closed its end: sending fails
        pass
    if not end_with_none:
        mine.close()
    call.wait(1.5)
    return call, theirs.closed, replies


def drive(student, words):
    server = student.echo_server
    seen = Observations()
    call, closed, replies = session(server, words, end_with_none=True)
    seen.set(none_outcome=call.outcome, closed_after_none=closed, none_replies=replies)
    call, closed, replies = session(server, words, end_with_none=False)
    answered = len(replies) == len(words) and not any(r.startswith("(") for r in replies)
    seen.set(
        eof_outcome=call.outcome if answered else "silent",
        eof_exception=call.exception,
        eof_where=call.where,
        closed_after_eof=closed,
    )
