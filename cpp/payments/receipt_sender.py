"""Receipts sent after the customer's page has been answered, from one thread per process.

The customer who has just paid should not wait on the shop's mail server: a slow one (STARTTLS
and a login to a hosted service take a second or more) or a dead one (MAIL_TIMEOUT, 10 s by
default) held up the result page before. The request claims the receipt in the ledger
('sending', so the page can say it is on its way and no one else sends it), then hands the
payment's reference to this thread, which sends it and records the outcome.

Nothing is lost if the process dies in between: a receipt 'sending' for longer than
cpp.payments.reconcile.STUCK_SENDING is sent by the next reconcile pass. An orderly exit
(Ctrl+C; SIGTERM under `python -m cpp.serve`, see cpp.serve.stop_gracefully_on_sigterm; a
gunicorn worker's stop) first sends what is queued, for up to DRAIN_SECONDS.
"""
from __future__ import annotations

import atexit
import logging
import queue
import threading
import weakref

from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION = "cpp_receipt_sender"
ACTOR = "receipt sender"  # who the ledger's events say sent it
DRAIN_SECONDS = 10.0
_running: weakref.WeakSet[ReceiptSender] = weakref.WeakSet()


class ReceiptSender:
    def __init__(self, app: Flask):
        self.app = app
        self.waiting: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()
        self.idle = threading.Condition()
        self.unfinished = 0

    def submit(self, reference: str, claimed_at: str) -> None:
        """Send the receipt of `reference`, claimed in the ledger at `claimed_at`."""
        with self.idle:
            self.unfinished += 1
        self.waiting.put((reference, claimed_at))
        with self.start_lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="cpp-receipts", daemon=True)
                self.thread.start()
                _running.add(self)

    def run(self) -> None:
        from .receipts import deliver_claimed  # receipts imports this module

        while (job := self.waiting.get()) is not None:
            reference, claimed_at = job
            try:
                with self.app.app_context():
                    deliver_claimed(reference, claimed_at)
            except Exception:  # noqa: BLE001 - one receipt's failure must not stop the others
                log.exception("receipt for payment %s: sending failed; reconcile will retry",
                              reference)
            finally:
                with self.idle:
                    self.unfinished -= 1
                    self.idle.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """True once every receipt handed over so far has been sent or recorded as failed
        (a clean shutdown; tests)."""
        with self.idle:
            return self.idle.wait_for(lambda: self.unfinished == 0, timeout)

    def stop(self, wait: float = DRAIN_SECONDS) -> None:
        """Send what is queued (for up to `wait` seconds), then end the thread."""
        with self.start_lock:
            thread = self.thread
            if thread is None or not thread.is_alive():
                return
            self.waiting.put(None)
        thread.join(wait)


def stop(app: Flask, wait: float = DRAIN_SECONDS) -> None:
    found = app.extensions.get(EXTENSION)
    if found is not None:
        found.stop(wait)


@atexit.register
def _drain_on_exit() -> None:
    for running in list(_running):
        running.stop()


def sender_of(app: Flask) -> ReceiptSender:
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions.setdefault(EXTENSION, ReceiptSender(app))
    return found


def sender() -> ReceiptSender:
    return sender_of(current_app._get_current_object())
