"""State every portal process must see alike: server-side sessions and failed-login counters.

Kept in the ledger's database (SQLite, nothing to install) unless REDIS_URL names a Redis
server, which several processes or machines then share. Both backends offer the same methods.
"""
from __future__ import annotations

from flask import Flask, current_app

from .redis_backend import RedisSharedState
from .sqlite_backend import SqliteSharedState

SharedState = SqliteSharedState | RedisSharedState


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if url:
        state: SharedState = RedisSharedState(url)
    else:
        state = SqliteSharedState(app.config["DATABASE"], timeout=app.config["DATABASE_TIMEOUT"])
    app.extensions["shared_state"] = state


def get_shared_state() -> SharedState:
    return current_app.extensions["shared_state"]
