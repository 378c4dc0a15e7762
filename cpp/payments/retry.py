"""Backoff between retries of PIMS posting, voids and receipts."""
from __future__ import annotations

import datetime as dt

from .ledger import utcnow

RETRY_DELAYS = (60, 300, 900, 3600, 4 * 3600)  # seconds: 1 min, 5 min, 15 min, 1 h, then 4 h


def next_attempt(attempt: int) -> str:
    """When attempt number `attempt + 1` may run."""
    delay = RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)]
    return (utcnow() + dt.timedelta(seconds=delay)).isoformat()
