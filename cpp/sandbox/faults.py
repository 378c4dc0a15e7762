"""Fault injection for the sandbox services, set by tests: make the next call(s) fail on purpose.

`when="before"` fails without doing the work; `when="after"` does the work, then loses the answer,
which is how a real network drop after a committed write looks to the portal.

Each sandbox owns one `FaultInjector` (in `app.extensions["sandbox_faults"]`), shared with the
SMTP server the test starts beside it. Nothing is process-global: a test's armed faults and call
counts cannot leak into the next test, whatever order the suite runs in.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

MODES = ("fault", "hang", "malformed", "http500", "drop", "slow")


@dataclass
class Fault:
    service: str  # "pims", "transport", "reporting", "credit", "smtp"
    operation: str  # e.g. "ApplyPayment", or "*" for any
    mode: str = "fault"
    when: str = "before"
    times: int = 1
    seconds: float = 3.0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        # How many times each (service, operation) was called: lets tests assert "posted once".
        self.calls: Counter = Counter()

    def arm(self, fault: Fault) -> None:
        if fault.mode not in MODES or fault.when not in ("before", "after"):
            raise ValueError(f"unknown fault {fault}")
        with self._lock:
            self._armed.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.calls.clear()

    def take(self, service: str, operation: str) -> Fault | None:
        """Count the call; return the fault armed for it, if any."""
        with self._lock:
            self.calls[(service, operation)] += 1
            for fault in self._armed:
                if fault.service == service and fault.operation in (operation, "*"):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._armed.remove(fault)
                    return fault
        return None
