"""Receipts sent after the customer's page has been answered, from one thread per process.

The customer who has just paid should not wait on the shop's mail server: a slow one (STARTTLS
and a login to a hosted service take a second or more) or a dead one (MAIL_TIMEOUT, 10 s by
default) held up the result page before. The request claims the receipt in the ledger
('sending', so the page can say it is on its way and no one else sends it), then hands the
payment's reference to this thread, which sends it and records the outcome.

Nothing is lost if the process dies in between: a receipt 'sending' for longer than
cpp.payments.reconcile.STUCK_SENDING is sent by the next reconcile pass.
"""
from __future__ import annotations

import logging
import queue
import threading

from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION = "cpp_receipt_sender"


class ReceiptSender:
    def __init__(self, app: Flask):
        self.app = app
        self.waiting: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.start_lock = threading.Lock()
        self.idle = threading.Condition()
        self.unfinished = 0

    def submit(self, reference: str) -> None:
        with self.idle:
            self.unfinished += 1
        self.waiting.put(reference)
        with self.start_lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="cpp-receipts", daemon=True)
                self.thread.start()

    def run(self) -> None:
        from .receipts import deliver_claimed  # receipts imports this module

        while (reference := self.waiting.get()) is not None:
            try:
                with self.app.app_context():
                    deliver_claimed(reference)
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


def sender_of(app: Flask) -> ReceiptSender:
    found = app.extensions.get(EXTENSION)
    if found is None:
        found = app.extensions.setdefault(EXTENSION, ReceiptSender(app))
    return found


def sender() -> ReceiptSender:
    return sender_of(current_app._get_current_object())
