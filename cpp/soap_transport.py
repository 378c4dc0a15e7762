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
so is a body still arriving when the read timeout has passed since its headers came
(AnswerTooSlow). The read timeout alone applies to each read, so a server dripping its body a
byte at a time could hold a worker thread for as long as it liked. What this does not bound,
because urllib3 and http.client read them inside one call, each read within the timeout: a
status line or headers dripped a byte at a time, and a chunked body's size lines and trailers.
A server doing that is hostile, not slow; an outside watchdog that closes the socket would be
the cure.

zeep still reads the WSDL (a local file) through its own session, and still builds, signs and
reads every message.
"""
from __future__ import annotations

import time

import certifi
import urllib3
from zeep.transports import Transport

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
    """A body not complete within the read timeout of its headers: unavailable, as a timeout."""


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
            content = read_by(answer, time.monotonic() + self._read_timeout, self._read_timeout)
        except BaseException:
            answer.close()  # a half-read connection is closed: the pool's next use reconnects
            raise
        finally:
            answer.release_conn()
        return SoapAnswer(answer.status, content, answer.headers)


def read_by(answer, deadline: float, read_timeout: float) -> bytes:
    """The whole body, at most MAX_ANSWER_BYTES, all of it by `deadline` (time.monotonic()).

    Each read waits no longer than what is left until the deadline (the socket's timeout,
    which urllib3 sets again for the connection's next request). An answer that closes its
    connection (HTTP/1.0, Connection: close) has no socket left to set: its reads wait up to
    the read timeout each, so it ends within about twice the timeout."""
    sock = getattr(answer.connection, "sock", None)
    parts, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AnswerTooSlow(f"not complete within {read_timeout} s")
        if sock is not None:
            sock.settimeout(min(read_timeout, left))
        part = answer.read1(READ_SIZE)
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"over {MAX_ANSWER_BYTES} bytes")
        parts.append(part)
