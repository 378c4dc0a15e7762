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


# Not finished, but not (yet) the shop's to act on: a customer on the card page, or a charge
# about to be posted. A closed tab leaves one here until the customer's next Pay Bill or the
# next reconcile pass.
IN_PROGRESS = (states.NEW, states.STAGED, states.APPROVED, states.MISMATCH)


def in_progress_count() -> int:
    counts = get_ledger().count_by_state()
    return sum(counts.get(state, 0) for state in IN_PROGRESS)


def attention_count() -> int:
    if "attention_count" not in g:
        with get_ledger().connect() as db:
            g.attention_count = db.execute(
                "SELECT COUNT(*) FROM payments WHERE state = ? OR (state = ? AND"
                " receipt_status = ?)",
                (states.NEEDS_ATTENTION, states.POSTED, states.RECEIPT_FAILED)).fetchone()[0]
    return g.attention_count
