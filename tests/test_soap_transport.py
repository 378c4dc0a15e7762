"""cpp.soap_transport and cpp.deadlines: how long a SOAP answer may take, whoever sends it.

A PIMS (or anything posing as one) may answer slowly on purpose: each byte just inside the
read timeout, so that no single read ever times out. These tests play such servers on bare
sockets, because no web framework would send an answer this way.
"""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from cpp.deadlines import WATCHDOG, Watchdog
from cpp.pims.client import PimsClient
from cpp.pims.models import PimsUnavailable

from .test_invoice_reader import invoices_answer, row

TIMEOUT = 1  # the PIMS client's timeout in these tests, seconds


def client_for(listener: socket.socket) -> PimsClient:
    return PimsClient(f"http://127.0.0.1:{listener.getsockname()[1]}/pims",
                      "test-user", "test-password-not-real", TIMEOUT)


def read_request(connection: socket.socket) -> bytes:
    """One whole post: headers, then as much body as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += connection.recv(65536)
    return head


def answer_with(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


class RawPims:
    """A PIMS on a bare socket that answers the first post as `answer(connection)` writes it,
    and any later post, on a new connection, with one invoice (INV-1). `connections` counts
    the connections the portal opened."""

    def __init__(self, answer):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0

        def serve() -> None:
            while True:
                try:
                    connection, _ = self.listener.accept()
                except OSError:  # closed: the test is over
                    return
                self.connections += 1
                threading.Thread(target=answer_one, args=(connection, self.connections),
                                 daemon=True).start()

        def answer_one(connection: socket.socket, number: int) -> None:
            with connection:
                try:
                    read_request(connection)
                    if number == 1:
                        answer(connection)
                    else:
                        connection.sendall(answer_with(invoices_answer(row())))
                        connection.recv(1)  # until the portal hangs up
                except OSError:
                    pass

        threading.Thread(target=serve, daemon=True).start()
        self.client = client_for(self.listener)

    def close(self) -> None:
        self.listener.close()


def drip(*, then: bytes, first: bytes = b""):
    """An answer that sends `first`, then `then` one byte every 50 ms, for 20 s at most (a
    failing test ends there)."""
    def answer(connection: socket.socket) -> None:
        connection.sendall(first)
        for byte in (then * 400)[:400]:
            connection.sendall(bytes([byte]))
            time.sleep(0.05)
    return answer


HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"


@pytest.mark.parametrize("answer", [
    pytest.param(drip(then=b"HTTP/1.1 200 OK\r\n"), id="status line"),
    pytest.param(drip(first=HEADERS, then=b"X-Padding: " + b"x" * 500), id="a header"),
    pytest.param(drip(first=HEADERS + b"Content-Length: 100000\r\n\r\n", then=b" "), id="body"),
    # A chunked body's size line, which http.client reads a line at a time: leading zeros.
    pytest.param(drip(first=HEADERS + b"Transfer-Encoding: chunked\r\n\r\n5\r\n<?xml\r\n",
                      then=b"0"), id="chunk size"),
])
def test_an_answer_dripped_a_byte_at_a_time_is_cut_off_at_the_timeout(answer):
    """Every byte inside the read timeout, the whole answer far past it: the call ends as
    PIMS unavailable about one timeout after the part being dripped began, and the watchdog is
    left watching nothing. The connection, shut, is never used again: the next call opens a
    new one and gets its invoice."""
    pims = RawPims(answer)
    started = time.monotonic()
    try:
        with pytest.raises(PimsUnavailable):
            pims.client.get_open_invoices("M-1")
        assert time.monotonic() - started < 3 * TIMEOUT  # without the bound, 20 s
        assert WATCHDOG.watching() == 0
        assert [i.number for i in pims.client.get_open_invoices("M-1")] == ["INV-1"]
        assert pims.connections == 2
    finally:
        pims.close()


def test_a_pims_slow_to_start_answering_still_has_the_timeout_to_send_it():
    """The body's bound counts from the headers: 0.8 s of a 1 s timeout spent before them
    leaves the body its full second, as it always had."""
    body = invoices_answer(row())

    def slow_start(connection) -> None:
        time.sleep(0.8)
        connection.sendall(HEADERS + f"Content-Length: {len(body)}\r\n\r\n".encode())
        time.sleep(0.5)
        connection.sendall(body)

    pims = RawPims(slow_start)
    try:
        (invoice,) = pims.client.get_open_invoices("M-1")
        assert invoice.number == "INV-1"
    finally:
        pims.close()


def test_a_kept_alive_connection_outlives_its_answers_deadlines():
    """An answer that came in time leaves its connection alone: reused after its deadlines
    have long passed, the same connection carries the next call."""
    listener = socket.create_server(("127.0.0.1", 0))
    connections = []

    def serve() -> None:
        connection, _ = listener.accept()
        connections.append(connection)
        with connection:
            for number in ("INV-1", "INV-2"):
                read_request(connection)
                connection.sendall(answer_with(invoices_answer(row(number=number))))

    threading.Thread(target=serve, daemon=True).start()
    client = client_for(listener)
    try:
        assert [i.number for i in client.get_open_invoices("M-1")] == ["INV-1"]
        time.sleep(TIMEOUT + 0.5)
        assert [i.number for i in client.get_open_invoices("M-1")] == ["INV-2"]
        assert len(connections) == 1
    finally:
        listener.close()


# -- The watchdog itself ---------------------------------------------------------------------

def test_a_deadline_that_passes_is_interrupted_once():
    watchdog, calls = Watchdog(), []
    deadline = watchdog.watch(0.05, lambda: calls.append(time.monotonic()))
    time.sleep(0.5)
    assert watchdog.end(deadline) is True
    assert len(calls) == 1
    assert watchdog.end(deadline) is True  # asking again changes nothing


def test_a_deadline_ended_in_time_is_never_interrupted():
    watchdog, calls = Watchdog(), []
    deadline = watchdog.watch(0.2, lambda: calls.append(1))
    assert watchdog.end(deadline) is False
    time.sleep(0.5)
    assert calls == []
    assert watchdog.watching() == 0


def test_the_earliest_deadline_is_kept_whatever_the_order_of_watching():
    watchdog, calls = Watchdog(), []
    late = watchdog.watch(30, lambda: calls.append("late"))
    soon = watchdog.watch(0.05, lambda: calls.append("soon"))
    time.sleep(0.5)
    assert calls == ["soon"]
    assert (watchdog.end(soon), watchdog.end(late)) == (True, False)


def test_ended_deadlines_do_not_pile_up():
    """A busy portal ends thousands of reads in time for every one that is cut off; their
    deadlines (a whole timeout away) must not be kept until then."""
    watchdog = Watchdog()
    for _ in range(5000):
        watchdog.end(watchdog.watch(60, lambda: None))
    assert watchdog.watching() == 0
    assert len(watchdog._deadlines) < 200  # noqa: SLF001 - the memory this test is about


def test_the_watchdog_works_where_there_is_no_fork(monkeypatch):
    """Windows has no os.register_at_fork: the portal must still start and cut answers off."""
    monkeypatch.delattr(os, "register_at_fork")
    watchdog, calls = Watchdog(), []
    deadline = watchdog.watch(0.05, lambda: calls.append(1))
    time.sleep(0.5)
    assert watchdog.end(deadline) is True and calls == [1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")
# Python 3.12 and newer warn about forking a process with threads; the child here only runs
# the watchdog and exits at once.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_process_has_a_working_watchdog_of_its_own():
    """gunicorn forks its workers; the parent's watchdog thread is not in the child."""
    watchdog = Watchdog()
    watchdog.end(watchdog.watch(1, lambda: None))  # the parent's thread is running
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        fired = threading.Event()
        deadline = watchdog.watch(0.05, fired.set)
        os._exit(0 if fired.wait(5) and watchdog.end(deadline) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
