"""Crash safety: the portal runs as a real server process, which the test kills with SIGKILL at
each point of the visit and restarts. After the customer returns and/or reconcile runs there is
exactly one PIMS payment for each charge, and none without one."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from cpp.database import Database
from cpp.payments import states
from cpp.payments.ledger import Ledger, utcnow
from cpp.sandbox.faults import Fault
from cpp.sandbox.mailbox import MailboxStore, start_smtp

from .conftest import TEST_CREDENTIALS
from .live import free_port
from .test_payments import APPROVE
from .visitor import Visitor

# A killed process must lose nothing on either database the portal supports.
pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


class PortalProcess:
    """`python app.py` with a production configuration in the environment."""

    def __init__(self, env: dict):
        self.env = env
        self.port = int(env["CPP_PUBLIC_URL"].rsplit(":", 1)[1])
        self.url = env["CPP_PUBLIC_URL"]
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, "app.py", "--port", str(self.port)],
                                        cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/login", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("portal did not start")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def cli(self, *args) -> str:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "cpp", *args],
                                cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def crash_env(sandbox, tmp_path, faults, ledger_database):
    store = MailboxStore(str(tmp_path / "mail.sqlite3"))
    controller = start_smtp(store, faults)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CPP_SECRET_KEY": "test-secret-key-not-for-production",
        "CPP_PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        "CPP_DATABASE": ledger_database,
        "CPP_PIMS_URL": sandbox.pims_url,
        "CPP_PIMS_USERNAME": TEST_CREDENTIALS["SANDBOX_PIMS_USERNAME"],
        "CPP_PIMS_PASSWORD": TEST_CREDENTIALS["SANDBOX_PIMS_PASSWORD"],
        "CPP_CAYAN_MERCHANT_NAME": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_NAME"],
        "CPP_CAYAN_MERCHANT_SITE_ID": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_SITE_ID"],
        "CPP_CAYAN_MERCHANT_KEY": TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_KEY"],
        "CPP_CAYAN_TRANSPORT_URL": sandbox.url + "/sandbox/cayan/transport",
        "CPP_CAYAN_TRANSPORTWEB_URL": sandbox.url + "/sandbox/cayan/transportweb.aspx",
        "CPP_CAYAN_REPORTING_URL": sandbox.url + "/sandbox/cayan/reporting",
        "CPP_CAYAN_CREDIT_URL": sandbox.url + "/sandbox/cayan/credit",
        # short timeouts keep a dead process's posting lease short (2 * 2 + 5 seconds)
        "CPP_PIMS_TIMEOUT": "2", "CPP_CAYAN_TIMEOUT": "2", "CPP_MAIL_TIMEOUT": "6",
        "CPP_MAIL_SERVER": "127.0.0.1", "CPP_MAIL_PORT": str(controller.port),
        "CPP_MAIL_DEFAULT_SENDER": "billing@shop.example",
    }
    portal = PortalProcess(env).start()
    database = Database(env["CPP_DATABASE"])
    yield portal, Ledger(database), store
    if portal.process.poll() is None:
        portal.process.terminate()
        portal.process.wait(timeout=10)
    database.dispose()
    controller.stop()


def in_background(function):
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except requests.RequestException as exc:
            outcome["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def kill_when(portal, reached) -> None:
    deadline = time.monotonic() + 10
    while not reached():
        assert time.monotonic() < deadline, "the request never reached the crash point"
        time.sleep(0.01)
    portal.kill()


def called(faults, service, operation, times=1):
    return lambda: faults.calls[(service, operation)] >= times


def wait_for_leases_to_lapse(ledger: Ledger) -> None:
    deadline = time.monotonic() + 15
    while any(p.lease_until and p.lease_until > utcnow() for p in ledger.find()):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def assert_exactly_one_posting(sandbox, ledger: Ledger) -> None:
    approved = [t for t in sandbox.cayan.all_transactions()
                if t["transaction_type"] == 1 and t["approval_status"] == "APPROVED"
                and not t["voided"]]
    pims = sandbox.pims.all_payments()
    assert len(approved) == 1, approved
    assert len(pims) == 1, pims
    [payment] = [p for p in ledger.find() if p.state == states.POSTED]
    assert pims[0]["reference"] == payment.reference
    assert pims[0]["amount_cents"] == approved[0]["amount_cents"]
    assert approved[0]["merchant_transaction_id"] == payment.transaction_id


def pay_and_return(visitor: Visitor, card_page: str) -> None:
    visitor.follow(visitor.card_page(card_page, APPROVE))


@pytest.mark.parametrize("answer", ["before", "after"])
def test_killed_while_staging(crash_env, sandbox, answer, faults):
    """Killed before Cayan answered CreateTransaction (work done or not)."""
    portal, ledger, _ = crash_env
    visitor = Visitor(portal.url)
    visitor.login("M-1000")
    choices = visitor.invoice_choices()
    faults.arm(Fault("transport", "CreateTransaction", mode="hang", when=answer, seconds=1.5))
    thread, outcome = in_background(lambda: visitor.pay_bill([choices["INV-10244"]]))
    kill_when(portal, called(faults, "transport", "CreateTransaction"))
    thread.join(10)
    assert "error" in outcome  # the customer's browser saw the connection drop
    portal.start()
    [stuck] = ledger.find()
    assert stuck.state == states.NEW
    portal.cli("reconcile", "--all")  # staff, or the scheduled job
    assert ledger.get(stuck.reference).state == states.EXPIRED
    visitor.get("/invoices")
    pay_and_return(visitor, visitor.pay(["INV-10244"]))
    assert_exactly_one_posting(sandbox, ledger)


def test_killed_while_the_customer_is_on_the_card_page(crash_env, sandbox):
    portal, ledger, _ = crash_env
    visitor = Visitor(portal.url)
    visitor.login("M-1000")
    card_page = visitor.pay(["INV-10244"])
    portal.kill()
    back = visitor.card_page(card_page, APPROVE)  # Cayan charges; the portal is down
    with pytest.raises(requests.ConnectionError):
        visitor.follow(back)
    portal.start()
    visitor.follow(back)  # the customer tries again
    assert_exactly_one_posting(sandbox, ledger)


def kill_during_apply_payment(portal, faults, when: str) -> tuple[Visitor, str]:
    """Pay, then kill the portal while its return request waits on ApplyPayment."""
    visitor = Visitor(portal.url)
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    faults.arm(Fault("pims", "ApplyPayment", mode="hang", when=when, seconds=1.5))
    thread, _ = in_background(lambda: visitor.follow(back))
    kill_when(portal, called(faults, "pims", "ApplyPayment"))
    thread.join(10)
    return visitor, back


def test_killed_after_approval_before_posting(crash_env, sandbox, faults):
    portal, ledger, _ = crash_env
    kill_during_apply_payment(portal, faults, "before")
    assert ledger.find()[0].state == states.APPROVED
    assert sandbox.pims.all_payments() == []
    portal.start()
    wait_for_leases_to_lapse(ledger)
    portal.cli("reconcile", "--all")
    assert_exactly_one_posting(sandbox, ledger)


def test_another_customers_payment_under_our_reference_goes_to_staff_not_posted(
        crash_env, sandbox, faults):
    """If PIMS turns out to hold a payment under this payment's reference for another
    customer, this one is not marked posted on the strength of it (its invoices would stay
    unpaid) and not applied again: staff are asked, with both in its history."""
    from .test_pims_contract import client_for, payment

    portal, ledger, _ = crash_env
    kill_during_apply_payment(portal, faults, "before")
    (ours,) = ledger.find()
    assert ours.state == states.APPROVED and sandbox.pims.all_payments() == []
    other_id, _ = client_for(sandbox.pims_url).apply_payment(
        payment(ours.reference, "M-1001", ("INV-20011", "129.00")))
    portal.start()
    wait_for_leases_to_lapse(ledger)
    portal.cli("reconcile", "--all")
    (ours,) = ledger.find()
    assert ours.state == states.NEEDS_ATTENTION and ours.pims_payment_id is None
    assert [p["customer_code"] for p in sandbox.pims.all_payments()] == ["M-1001"]
    assert any(f"payment {other_id} under this reference, for customer M-1001" in event["reason"]
               for event in ledger.events(ours.id))


def test_killed_during_apply_payment_after_pims_did_the_work(crash_env, sandbox, faults):
    portal, ledger, _ = crash_env
    visitor, back = kill_during_apply_payment(portal, faults, "after")
    assert len(sandbox.pims.all_payments()) == 1  # PIMS applied it; the portal never heard
    portal.start()
    wait_for_leases_to_lapse(ledger)
    visitor.follow(back)  # the customer comes back, then the job runs
    portal.cli("reconcile", "--all")
    assert faults.calls[("pims", "ApplyPayment")] == 1  # GetPayment found it: not applied again
    assert_exactly_one_posting(sandbox, ledger)


def test_killed_after_posting_before_the_receipt(crash_env, sandbox, faults):
    portal, ledger, mailbox = crash_env
    faults.arm(Fault("smtp", "DATA", mode="hang", seconds=4))
    visitor = Visitor(portal.url)
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    thread, _ = in_background(lambda: visitor.follow(back))
    kill_when(portal, called(faults, "smtp", "DATA"))
    thread.join(10)
    [payment] = ledger.find()
    assert payment.state == states.POSTED and payment.receipt_status == "sending"
    portal.start()
    # Even a forced pass leaves a receipt claimed moments ago to the process that may still be
    # sending it (the longest a send takes and a second: 4 x MAIL_TIMEOUT + 1, 25 s here);
    # after that it is the pass's to send.
    portal.cli("reconcile", "--all")
    assert ledger.find()[0].receipt_status == "sending" and mailbox.messages() == []
    while utcnow() - ledger.find()[0].updated_at <= dt.timedelta(seconds=25):
        time.sleep(0.2)
    portal.cli("reconcile", "--all")
    assert ledger.find()[0].receipt_status == "sent"
    assert len(mailbox.messages()) == 1
    assert_exactly_one_posting(sandbox, ledger)
