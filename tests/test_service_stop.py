"""Stopping the production server (`python -m cpp.serve`) the way a service manager does."""
from __future__ import annotations

import signal
import sys
import time

import pytest

from cpp.database import Database
from cpp.payments.ledger import Ledger
from cpp.sandbox.faults import Fault

from .live import free_port
from .processes import production_env, waitress_portal
from .test_payments import APPROVE
from .visitor import Visitor

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")


def test_a_service_stop_sends_the_queued_receipt_before_the_process_ends(sandbox, smtp, faults,
                                                                         tmp_path):
    """systemctl stop sends SIGTERM. The customer has just paid and their receipt is queued
    behind a slow mail server: it goes out before the process ends, not 10 minutes later from
    reconcile, even when the stop is sent twice."""
    faults.arm(Fault("smtp", "DATA", mode="slow", seconds=4))
    port = free_port()
    database = tmp_path / "ledger.sqlite3"
    env = production_env(sandbox.url, smtp.port, database, f"http://127.0.0.1:{port}")
    portal = waitress_portal(env, port, tmp_path / "portal.log").start()
    try:
        visitor = Visitor(portal.url)
        visitor.login("M-1000")
        result = visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
        assert "on its way" in result.text
        [payment] = Ledger(Database(str(database))).find()
        assert payment.receipt_status == "sending" and smtp.messages() == []

        portal.process.send_signal(signal.SIGTERM)
        time.sleep(1)  # draining now, behind the slow mail server
        portal.process.send_signal(signal.SIGTERM)  # an impatient second stop changes nothing
        assert portal.process.wait(timeout=30) == 0, portal.output()[-2000:]
    finally:
        portal.stop()
    [mail] = smtp.messages()
    assert payment.reference in mail["subject"]
    assert Ledger(Database(str(database))).find()[0].receipt_status == "sent"
