"""An email to the shop (STAFF_ALERT_EMAILS) when a payment enters needs_attention: once per
payment, whichever process or job notices it, and sent later by reconcile when the mail server
was down at the time."""
from __future__ import annotations

import logging

from flask import current_app, render_template

from .. import mailer
from ..formatting import portal_url
from . import record, states
from .ledger import Payment, get_ledger, utcnow

log = logging.getLogger("cpp.audit")


def recipients() -> list[str]:
    value = current_app.config.get("STAFF_ALERT_EMAILS") or []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [address for address in value if "@" in address]


def alert_staff_once(payment: Payment) -> bool:
    """True if the alert went out now. The claim (a row per payment) makes it once only; a
    failed send gives the claim back for the next reconcile pass."""
    to = recipients()
    if not to or payment.state != states.NEEDS_ATTENTION:
        return False
    ledger = get_ledger()
    with ledger.transaction() as db:
        claimed = db.execute("INSERT INTO staff_alerts (payment_id, sent_at) VALUES (?, ?)"
                             " ON CONFLICT(payment_id) DO NOTHING",
                             (payment.id, utcnow().isoformat())).rowcount == 1
    if not claimed:
        return False
    from .posting import to_be_voided  # posting imports this module: imported when used

    context = {"payment": payment, "shop_name": current_app.config["SHOP_NAME"],
               "must_void": to_be_voided(payment),
               "link": portal_url("staff.payment", reference=payment.reference)}
    try:
        mailer.send(mailer.EncodedMessage(
            subject=f"Payment {payment.reference} needs attention "
                    f"({payment.customer_code}, {payment.amount})",
            recipients=to, body=render_template("staff/alert.txt", **context),
            sender=current_app.config["MAIL_DEFAULT_SENDER"]))
    except Exception as exc:  # noqa: BLE001 - the mail server's failure: try again later
        log.warning("needs-attention alert for %s not sent: %s", payment.reference, exc)
        with ledger.transaction() as db:
            db.execute("DELETE FROM staff_alerts WHERE payment_id = ?", (payment.id,))
        return False
    record.note(ledger, payment.id, f"alert emailed to {', '.join(to)}", who="alert")
    return True


def not_yet_alerted() -> list[Payment]:
    if not recipients():
        return []
    ledger = get_ledger()
    with ledger.connect() as db:
        rows = db.execute("SELECT * FROM payments WHERE state = ? AND id NOT IN"
                          " (SELECT payment_id FROM staff_alerts)",
                          (states.NEEDS_ATTENTION,)).fetchall()
        return ledger.load_rows(db, rows)
