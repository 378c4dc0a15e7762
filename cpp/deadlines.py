"""A deadline for a blocking read, enforced from outside the thread that is reading.

A socket's timeout bounds each read, not their sum: a server that sends one byte just inside
the timeout, again and again, holds the reading thread for as long as it likes, and no code
inside that thread gets a chance to look at the clock (http.client reads a status line or a
header a byte at a time inside one call). One watchdog thread per process keeps the deadlines
of all reads in progress and, when one passes, calls its `interrupt` (cpp.soap_transport
shuts the socket down for reading, which wakes the blocked read with an end of file).

    deadline = WATCHDOG.watch(seconds, interrupt)
    ...the blocking reads...
    if WATCHDOG.end(deadline):   # True if the deadline passed and `interrupt` was called
        ...

`interrupt` is called at most once, never after `end` has returned, and never while the
watchdog's lock is not held, so `end` tells for certain whether it was called.
"""
from __future__ import annotations

import heapq
import os
import threading
import time
from collections.abc import Callable

# How often, at most, the watchdog wakes. Deadlines are seconds long: being this late to cut
# one off is nothing, and the thread does not wake once for every read that ended in time.
RESOLUTION = 0.1


class Deadline:
    __slots__ = ("at", "interrupt", "ended", "passed")

    def __init__(self, at: float, interrupt: Callable[[], None]):
        self.at, self.interrupt = at, interrupt
        self.ended = self.passed = False

    def __lt__(self, other: Deadline) -> bool:
        return self.at < other.at


class Watchdog:
    def __init__(self) -> None:
        self._start_afresh()
        # A forked worker (gunicorn) has no watchdog thread, whatever its parent had. (Windows
        # has no fork, nor this function.)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._start_afresh)

    def _start_afresh(self) -> None:
        self._lock = threading.Condition()
        self._deadlines: list[Deadline] = []
        self._ended_waiting = 0  # ended, still in the heap until their time comes
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, interrupt: Callable[[], None]) -> Deadline:
        deadline = Deadline(time.monotonic() + seconds, interrupt)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cpp-deadlines",
                                                daemon=True)
                self._thread.start()
            heapq.heappush(self._deadlines, deadline)
            if self._deadlines[0] is deadline:
                self._lock.notify()
        return deadline

    def end(self, deadline: Deadline) -> bool:
        """Stop watching; True if the deadline had passed (and its `interrupt` was called)."""
        with self._lock:
            if not deadline.ended:
                deadline.ended = True
                self._ended_waiting += 1
                # Reads usually end long before their deadline: drop them in bulk rather
                # than let them pile up for a whole timeout.
                if self._ended_waiting > 64 and self._ended_waiting * 2 > len(self._deadlines):
                    self._deadlines = [d for d in self._deadlines if not d.ended]
                    heapq.heapify(self._deadlines)
                    self._ended_waiting = 0
            return deadline.passed

    def watching(self) -> int:
        """How many deadlines are being watched (ended ones not counted)."""
        with self._lock:
            return sum(1 for d in self._deadlines if not d.ended)

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._deadlines and (self._deadlines[0].ended
                                           or self._deadlines[0].at <= now):
                    deadline = heapq.heappop(self._deadlines)
                    if deadline.ended:
                        self._ended_waiting -= 1
                        continue
                    deadline.passed = deadline.ended = True
                    try:
                        deadline.interrupt()
                    except Exception:  # noqa: BLE001, S110 - e.g. the socket already closed
                        pass
                wait = (max(self._deadlines[0].at - now, RESOLUTION) if self._deadlines
                        else None)
                self._lock.wait(wait)


WATCHDOG = Watchdog()
