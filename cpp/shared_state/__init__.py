"""State every portal process must see alike: server-side sessions, failed-login counters, and
the locks that let one process at a time run a job (reconciliation).

Kept in the portal's database (cpp.database: the ledger's SQLite file, or PostgreSQL) unless
REDIS_URL names a Redis server. Both backends offer the same methods.
"""
from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app

from .database_backend import DatabaseSharedState
from .redis_backend import RedisSharedState

SharedState = DatabaseSharedState | RedisSharedState


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if url:
        state: SharedState = RedisSharedState(url)
    else:
        state = DatabaseSharedState(app.extensions["database"])
    app.extensions["shared_state"] = state


def get_shared_state() -> SharedState:
    return current_app.extensions["shared_state"]


@contextmanager
def only_one_at_a_time(name: str, seconds: float) -> Iterator[bool]:
    """True inside if this process got the job `name`, False if another process has it now.

    Held for at most `seconds`: a process that dies holding it does not block the job for ever.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    state = get_shared_state()
    got = state.take_lock(name, holder, seconds)
    try:
        yield got
    finally:
        if got:
            state.release_lock(name, holder)
