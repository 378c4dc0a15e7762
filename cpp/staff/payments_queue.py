"""What needs the shop: payments in needs_attention, and posted payments whose receipt could
not be sent. The first thing on the dashboard, and the badge in its navigation."""
from __future__ import annotations

from flask import g

from ..payments import states
from ..payments.ledger import Payment, get_ledger


def needing_attention(limit: int = 100) -> list[Payment]:
    ledger = get_ledger()
    return (ledger.find(states=(states.NEEDS_ATTENTION,), limit=limit)
            + ledger.find(states=(states.POSTED,), receipt_statuses=(states.RECEIPT_FAILED,),
                          limit=limit))


def attention_count() -> int:
    if "attention_count" not in g:
        with get_ledger().connect() as db:
            g.attention_count = db.execute(
                "SELECT COUNT(*) FROM payments WHERE state = ? OR (state = ? AND"
                " receipt_status = ?)",
                (states.NEEDS_ATTENTION, states.POSTED, states.RECEIPT_FAILED)).fetchone()[0]
    return g.attention_count
