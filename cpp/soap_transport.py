"""zeep's transport, posting through one urllib3 connection pool instead of a requests Session.

Every page of the portal makes at least one SOAP call, and requests' own bookkeeping around a
post (preparing the request, merging cookies and settings, hooks, its response object) cost
close to a millisecond of CPU each time: as much as the rest of the invoices page's own work.
urllib3 is what requests sends with underneath; used directly it does the same exchange
without that layer (bench/run.py; CHANGES.md, "Speed").

What the requests Session did and this keeps:
* no environment proxies: payment traffic is never rerouted by a proxy set for the shell;
* certificates checked against certifi's bundle, as requests does;
* a connect timeout and a read timeout on every post (zeep's default is to wait forever);
* no retries and no redirects: a POST such as ApplyPayment is sent exactly once, and an answer
  that is not the service's own (a 3xx) is handled as the unusable answer it is.

And two things it did not: an answer over MAX_ANSWER_BYTES is cut off (AnswerTooLarge), and
so is one that takes too long in total (AnswerTooSlow): its status line and headers must all
arrive within the read timeout of the request being sent, and its body within the read timeout
of the headers. The read timeout alone applies to each read, so a server dripping its answer
a byte at a time (the headers, the body, a chunked body's size lines) could hold a worker
thread for as long as it liked. cpp.deadlines' watchdog enforces both bounds from outside the
reading thread, by shutting the socket down for reading when one passes. On Linux that wakes a
read already waiting; on Windows it does not (CPython issue 91913), but the next read fails, so
there an answer is cut off at most one read timeout after its deadline.

zeep still reads the WSDL (a local file) through its own session, and still builds, signs and
reads every message.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import certifi
import urllib3
import urllib3.connection
from zeep.transports import Transport

from .deadlines import WATCHDOG

# As many connections per host as the portal has worker threads (waitress: 8), so that
# simultaneous pages never wait for each other's connection.
CONNECTIONS_PER_HOST = 10
# No answer from PIMS or Cayan comes near this (300 invoices are 80 KB); a broken or hostile
# server sending more is cut off before it fills the portal's memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


# Read in pieces of up to this much, each as soon as it arrives.
READ_SIZE = 64 * 1024


class AnswerTooLarge(urllib3.exceptions.HTTPError):
    """An answer over MAX_ANSWER_BYTES: the service is unavailable, as for any broken answer."""


class AnswerTooSlow(urllib3.exceptions.HTTPError):
    """Headers not all in within the read timeout, or a body not complete within the read
    timeout of its headers: the service is unavailable, as after a timeout."""


@contextmanager
def within(seconds: float, interrupt: Callable[[], None], what: str) -> Iterator[None]:
    """Raise AnswerTooSlow if the block has not finished `seconds` from now: `interrupt` (a
    socket's shutdown) then wakes whatever read the block is blocked in."""
    deadline = WATCHDOG.watch(seconds, interrupt)
    try:
        yield
    except Exception:
        if WATCHDOG.end(deadline):
            raise AnswerTooSlow(f"{what} not complete within {seconds} s") from None
        raise
    except BaseException:
        WATCHDOG.end(deadline)
        raise
    if WATCHDOG.end(deadline):
        # Finished, but too late, on a socket now shut. Even if the answer was read in full
        # and its connection went back to the pool, urllib3 sees it closed and never reuses it.
        raise AnswerTooSlow(f"{what} not complete within {seconds} s")


class DeadlineConnection(urllib3.connection.HTTPConnection):
    def getresponse(self):
        # urllib3 sets the read timeout as `timeout` just before it asks for the answer.
        shutdown, response = self.sock.shutdown, None
        try:
            with within(self.timeout, lambda: shutdown(socket.SHUT_RD),
                        "status line and headers"):
                response = super().getresponse()
        except AnswerTooSlow:
            if response is not None:  # read in full, but too late, from a socket now shut
                response.close()
            raise
        return response


class DeadlineTlsConnection(DeadlineConnection, urllib3.connection.HTTPSConnection):
    pass


class DeadlinePool(urllib3.HTTPConnectionPool):
    ConnectionCls = DeadlineConnection


class DeadlineTlsPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = DeadlineTlsConnection


class SoapAnswer:
    """The part of a requests Response that zeep reads from an answer."""

    __slots__ = ("status_code", "content", "headers", "encoding")

    def __init__(self, status_code: int, content: bytes, headers):
        self.status_code, self.content, self.headers = status_code, content, headers
        self.encoding = None  # zeep falls back to the XML's own declaration, then UTF-8


class PooledTransport(Transport):
    def __init__(self, connect_timeout: float, read_timeout: float):
        super().__init__(operation_timeout=(connect_timeout, read_timeout))
        self._user_agent = self.session.headers["User-Agent"]  # zeep's own, as before
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=CONNECTIONS_PER_HOST, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
        self._pool.pool_classes_by_scheme = {"http": DeadlinePool, "https": DeadlineTlsPool}
        self._read_timeout = read_timeout

    def post(self, address: str, message: bytes, headers: dict) -> SoapAnswer:
        # identity: never a compressed answer, whose decoding could read on without end
        answer = self._pool.request("POST", address, body=message,
                                    headers={"User-Agent": self._user_agent,
                                             "Accept-Encoding": "identity", **headers},
                                    redirect=False, preload_content=False)
        try:
            # Counted from the headers, so a service that took most of the timeout to start
            # answering still has it all to send its answer, as before.
            # The last read hands the connection back to the pool; urllib3 (2.5 and newer)
            # then refuses to shut it down, so a deadline passing just after cannot cut off
            # the next request on it. (Only in the instant between urllib3's check and the
            # shutdown could it; that request would fail as "unavailable", and a repeated
            # ApplyPayment is still found by its reference, never posted twice.)
            with within(self._read_timeout, answer.shutdown, "body"):
                content = read_all(answer)
        except BaseException:
            answer.close()  # a half-read connection is closed: the pool's next use reconnects
            raise
        finally:
            answer.release_conn()
        return SoapAnswer(answer.status, content, answer.headers)


def read_all(answer) -> bytes:
    """The whole body, at most MAX_ANSWER_BYTES (its time is bounded by `within`)."""
    parts, size = [], 0
    while part := answer.read1(READ_SIZE):
        size += len(part)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"over {MAX_ANSWER_BYTES} bytes")
        parts.append(part)
    return b"".join(parts)
