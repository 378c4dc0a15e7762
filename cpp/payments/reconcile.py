"""Reconciliation: finish every payment that a closed tab, a crash or an outage left half-done.

Run by `flask --app app cpp reconcile` (schedule it every few minutes) or, with RECONCILE_EVERY,
by a background thread in the portal. It only ever does what a customer's return would do.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import Counter

from flask import Flask, current_app

from .. import mailer
from ..shared_state import only_one_at_a_time
from . import alerts, settlement, states
from .ledger import get_ledger, utcnow
from .receipts import send_receipt

log = logging.getLogger(__name__)

# A staged payment younger than this may have its customer still on the card page; looking it
# up early is harmless but pointless.
STAGED_QUIET_SECONDS = 60
# A receipt 'sending' for this long belongs to a process that died mid-send.
STUCK_SENDING = dt.timedelta(minutes=10)


# One pass at a time across every process and machine (the background thread of each portal
# process, and the scheduled command): held at most this long, should a holder die mid-pass.
PASS_LOCK_SECONDS = 15 * 60


def reconcile(force: bool = False) -> Counter:
    """One pass over every unfinished payment, unless another process is running one now
    (then it returns {"skipped": 1}). `force` ignores backoff and quiet periods.

    Concurrent passes would be safe (every step is a compare-and-set), but they would ask Cayan
    and PIMS the same questions twice; one at a time is enough.
    """
    with only_one_at_a_time("reconcile", PASS_LOCK_SECONDS) as ours:
        if not ours:
            log.info("reconcile: another process is running a pass; skipped")
            return Counter({"skipped": 1})
        return reconcile_pass(force)


def reconcile_pass(force: bool) -> Counter:
    """One payment's failure (a bug, bad data from PIMS, a database hiccup) is logged and counted
    under "errors", and the pass carries on: it never holds up everyone else's payments."""
    from .. import shop_settings

    shop_settings.refresh(current_app._get_current_object())  # the shop's name for receipts
    ledger = get_ledger()
    now = utcnow()
    outcome: Counter = Counter()

    def attempt(payment, action):
        """The action's result, or None when it failed (logged, counted under 'errors')."""
        try:
            return action()
        except Exception:  # noqa: BLE001 - logged; the next payment must still be done
            outcome["errors"] += 1
            log.exception("reconcile: payment %s (%s) failed; carrying on with the others",
                          payment.reference, payment.state)
            return None

    for payment in ledger.find(states=(states.NEW,), limit=10_000):
        if force or now - payment.updated_at > new_payment_grace():
            attempt(payment, lambda p=payment: settlement.settle_unsent(p))
            outcome["new checked"] += 1
    for payment in ledger.find(states=(states.STAGED,), limit=10_000):
        if force or (now - payment.updated_at).total_seconds() > STAGED_QUIET_SECONDS:
            timed_out = now - payment.updated_at > dt.timedelta(
                minutes=current_app.config["PAYMENT_TIMEOUT"])
            attempt(payment, lambda p=payment, t=timed_out:
                    settlement.settle_staged(p, browser_status=None, expire=t))
            outcome["staged checked"] += 1
    # A card page left open can still charge after its payment expired or was replaced.
    watch_since = (now - dt.timedelta(hours=current_app.config["LATE_CHARGE_HOURS"])
                   - settlement.LATE_WATCH_SLACK)
    for payment in ledger.find(states=states.CARD_PAGE_MAY_BE_OPEN, created_since=watch_since,
                               limit=10_000):
        if payment.transport_key and (force or payment.due(now)):
            attempt(payment, lambda p=payment: settlement.settle_late(p))
            outcome["late charges checked"] += 1
    # Read after the staged pass, so payments it just found approved are posted now.
    for payment in ledger.find(states=(states.APPROVED, states.MISMATCH), limit=10_000):
        if force or payment.due(now):
            attempt(payment, lambda p=payment: settlement.complete(p, retry_now=force))
            outcome[f"{payment.state} retried"] += 1
    # Only receipts still to send: never the whole history of posted payments.
    # A live send is over by longest_send(); a second more covers its watchdog's lateness.
    sending_now = dt.timedelta(seconds=mailer.longest_send() + 1)
    for payment in ledger.find(states=(states.POSTED,),
                               receipt_statuses=states.RECEIPT_TO_SEND, limit=10_000):
        due = payment.receipt_next_at is None or payment.receipt_next_at <= now
        # A forced pass (--all) takes over a receipt left 'sending' sooner, but never one a
        # live process may be sending right now (cpp.payments.receipt_sender): that would
        # email it twice.
        stuck = payment.receipt_status == states.RECEIPT_SENDING and \
            now - payment.updated_at > (sending_now if force else STUCK_SENDING)
        waiting = payment.receipt_status in (states.RECEIPT_NONE, states.RECEIPT_UNSENT)
        if waiting and (force or due) or stuck:
            sent = attempt(payment, lambda p=payment: send_receipt(p, retry=True))
            outcome["receipts sent" if sent else "receipts failed"] += 1
    alerted = attempt_alerts(attempt)
    if alerted:
        outcome["staff alerts sent"] = alerted
    for state, count in ledger.count_by_state().items():
        outcome[f"now {state}"] = count
    log.info("reconcile: %s", dict(outcome))
    record_run(outcome)
    return outcome


def attempt_alerts(attempt) -> int:
    """Alerts that could not be sent when their payment entered needs_attention."""
    sent = 0
    for payment in alerts.not_yet_alerted():
        sent += bool(attempt(payment, lambda p=payment: alerts.alert_staff_once(p)))
    return sent


def record_run(outcome: Counter) -> None:
    """The staff health page shows when the last pass ran and what it did."""
    with get_ledger().transaction() as db:
        db.execute("INSERT INTO job_runs (name, finished_at, outcome) VALUES (?, ?, ?)"
                   " ON CONFLICT(name) DO UPDATE SET finished_at = excluded.finished_at,"
                   " outcome = excluded.outcome",
                   ("reconcile", utcnow().isoformat(), json.dumps(dict(outcome))))


def last_run() -> tuple[dt.datetime, dict] | None:
    with get_ledger().connect() as db:
        row = db.execute("SELECT finished_at, outcome FROM job_runs WHERE name = ?",
                         ("reconcile",)).fetchone()
    return (dt.datetime.fromisoformat(row["finished_at"]), json.loads(row["outcome"])) \
        if row else None


def new_payment_grace() -> dt.timedelta:
    # Longer than any staging request can take, so we never race a live Pay Bill.
    return dt.timedelta(seconds=current_app.config["CAYAN_TIMEOUT"] * 2 + 30)


def start_background(app: Flask) -> threading.Thread | None:
    every = float(app.config.get("RECONCILE_EVERY") or 0)
    if every <= 0:
        return None
    stop = threading.Event()

    def run():
        while not stop.wait(every):
            try:
                with app.app_context():
                    reconcile()
            except Exception:  # noqa: BLE001 - the job must outlive one bad pass
                log.exception("background reconcile failed; will try again")

    thread = threading.Thread(target=run, name="cpp-reconcile", daemon=True)
    thread.start()
    app.extensions["reconciler_stop"] = stop
    app.extensions["reconciler_thread"] = thread
    return thread


def stop_background(app: Flask, wait: float = 10.0) -> None:
    """Stop the background job after the pass it may be in (tests; a clean shutdown)."""
    stop = app.extensions.get("reconciler_stop")
    if stop is not None:
        stop.set()
        app.extensions["reconciler_thread"].join(timeout=wait)
