"""Fault injection for the sandbox services, set by tests: make the next call(s) fail on purpose.

`when="before"` fails without doing the work; `when="after"` does the work, then loses the answer,
which is how a real network drop after a committed write looks to the portal.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

MODES = ("fault", "hang", "malformed", "http500", "drop")


@dataclass
class Fault:
    service: str  # "pims", "transport", "reporting", "credit"
    operation: str  # e.g. "ApplyPayment", or "*" for any
    mode: str = "fault"
    when: str = "before"
    times: int = 1
    seconds: float = 3.0


_lock = threading.Lock()
_armed: list[Fault] = []
# How many times each (service, operation) was called: lets tests assert "posted once".
calls: Counter = Counter()


def arm(fault: Fault) -> None:
    if fault.mode not in MODES or fault.when not in ("before", "after"):
        raise ValueError(f"unknown fault {fault}")
    with _lock:
        _armed.append(fault)


def clear() -> None:
    with _lock:
        _armed.clear()
        calls.clear()


def take_fault(service: str, operation: str) -> Fault | None:
    with _lock:
        calls[(service, operation)] += 1
        for fault in _armed:
            if fault.service == service and fault.operation in (operation, "*"):
                fault.times -= 1
                if fault.times <= 0:
                    _armed.remove(fault)
                return fault
    return None
