"""What staff did, and who tried to: every sign-in (and failed one), setting change, retry,
resend and resolve, with who, when and from which address. Shown on the Activity page."""
from __future__ import annotations

import logging

from flask import current_app, has_request_context, request

from .accounts import now_text

audit = logging.getLogger("cpp.audit")


def record(action: str, detail: str = "", who: str | None = None) -> None:
    address = request.remote_addr if has_request_context() else "command line"
    audit.info("staff %s: %s %s from %s", action, who or "-", detail, address)
    with current_app.extensions["database"].transaction() as db:
        db.execute("INSERT INTO staff_activity (at, who, action, detail, address)"
                   " VALUES (?, ?, ?, ?, ?)", (now_text(), who, action, detail[:500], address))


def recent(limit: int = 50, offset: int = 0) -> list:
    with current_app.extensions["database"].connect() as db:
        return db.execute("SELECT * FROM staff_activity ORDER BY id DESC LIMIT ? OFFSET ?",
                          (limit, offset)).fetchall()


def count() -> int:
    with current_app.extensions["database"].connect() as db:
        return db.execute("SELECT COUNT(*) FROM staff_activity").fetchone()[0]
