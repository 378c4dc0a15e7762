"""Failed-login limits, per account and per client address, exact across processes.

Each attempt is counted *before* PIMS is asked, in one atomic step in the shared state
(cpp.shared_state), so simultaneous guesses cannot all slip under the limit, and every portal
process counts against the same total. An attempt that turns out not to be a wrong password
is taken back afterwards.

The address limit only means something when the portal sees the customer's real address:
behind IIS or nginx that needs TRUSTED_PROXIES (cpp.proxy). Until then every customer shares
the proxy's address, so the address limit is not applied rather than lock everyone out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app, request

from ..proxy import client_address_is_known
from ..shared_state import get_shared_state

LIMIT = re.compile(r"^\s*(\d+)\s*(?:per|/)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.I)
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_limit(text: str) -> tuple[int, int]:
    """'5 per 15 minutes' -> (5, 900)."""
    match = LIMIT.match(text or "")
    if not match:
        raise ValueError(f"not a limit like '5 per 15 minutes': {text!r}")
    count, amount, unit = match.groups()
    return int(count), int(amount or 1) * UNIT_SECONDS[unit.lower()]


@dataclass
class LoginAttempt:
    """One login attempt's place in the counters; `allowed` is False once a limit is reached."""

    keys: list[str] = field(default_factory=list)
    allowed: bool = True

    def not_a_failure(self) -> None:
        """The password was right (or PIMS could not say): this attempt does not count."""
        state = get_shared_state()
        for key in self.keys:
            state.uncount_attempt(key)
        self.keys.clear()


def count_attempt(account: str, by_address: bool = True) -> LoginAttempt:
    """Count one try at `account`'s password, against its limit and (`by_address`) against
    the limit of the address it comes from."""
    config = current_app.config
    attempt = LoginAttempt()
    limits = [("account:" + account, config["LOGIN_ACCOUNT_LIMIT"])]
    if by_address and client_address_is_known():
        limits.append(("address:" + (request.remote_addr or ""), config["LOGIN_ADDRESS_LIMIT"]))
    state = get_shared_state()
    for key, limit in limits:
        most, window = parse_limit(limit)
        hits = state.count_attempt(key, window)
        attempt.keys.append(key)
        if hits > most:
            attempt.allowed = False
    return attempt
