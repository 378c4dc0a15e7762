"""Nothing lost: reconciliation finishes what closed tabs, outages and retries left behind."""
from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal

import pytest

from cpp.payments import receipt_sender, receipts, record, states
from cpp.payments.ledger import Ledger, Payment, PaymentInvoice, utcnow
from cpp.payments.reconcile import reconcile as reconcile_pass
from cpp.sandbox.faults import Fault
from cpp.shared_state import only_one_at_a_time

from .conftest import redis_test_url
from .live import eventually
from .test_payments import APPROVE, ledger_of, only_payment
from .visitor import Visitor, text_of

# The ledger's compare-and-set must hold on both databases the portal supports.
pytestmark = pytest.mark.both_databases


def reconcile(portal, *args):
    result = portal[0].test_cli_runner().invoke(args=["cpp", "reconcile", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_paid_but_never_came_back_is_posted_by_reconcile(portal, visitor, sandbox, smtp):
    visitor.login("M-1000")
    visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)  # then the tab is closed
    assert only_payment(portal).state == states.STAGED
    reconcile(portal, "--all")
    payment = only_payment(portal)
    assert payment.state == states.POSTED and payment.receipt_status == "sent"
    assert len(sandbox.pims.all_payments()) == 1 and len(smtp.messages()) == 1
    events = ledger_of(portal).events(payment.id)
    assert events[-1]["actor"] == "job"


def test_abandoned_without_paying_expires_only_after_the_timeout(make_portal, sandbox, faults):
    app, server = make_portal()
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.pay(["INV-10244"])
    reconcile((app, server), "--all")
    assert app.extensions["ledger"].find()[0].state == states.STAGED  # may still be typing
    app.config["PAYMENT_TIMEOUT"] = 0
    reconcile((app, server), "--all")
    [payment] = app.extensions["ledger"].find()
    assert payment.state == states.EXPIRED
    assert faults.calls[("reporting", "TransactionsByTransactionId")] >= 1  # checked, not assumed


def test_a_stale_payment_frees_its_invoices_for_a_new_pay_bill(make_portal, sandbox):
    app, server = make_portal()
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    first = visitor.pay(["INV-10244"])
    app.config["PAYMENT_TIMEOUT"] = 0
    second = visitor.pay(["INV-10244"])
    assert second != first
    states_now = sorted(p.state for p in app.extensions["ledger"].find())
    assert states_now == [states.EXPIRED, states.STAGED]


def test_a_stale_payment_that_was_paid_is_completed_not_expired(make_portal, sandbox):
    app, server = make_portal()
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)  # paid, tab closed
    app.config["PAYMENT_TIMEOUT"] = 0
    response = visitor.pay_bill(["INV-10244|19900"])
    assert response.status_code == 303
    [payment] = app.extensions["ledger"].find()
    assert payment.state == states.APPROVED or payment.state == states.POSTED
    assert len(app.extensions["ledger"].find()) == 1  # no second charge staged


def test_pay_bill_that_died_before_staging_is_expired(portal, visitor, sandbox, faults):
    visitor.login("M-1000")
    choices = visitor.invoice_choices()
    faults.arm(Fault("transport", "CreateTransaction", mode="http500", when="after"))
    response = visitor.pay_bill([choices["INV-10244"]])
    assert response.status_code == 503
    assert only_payment(portal).state == states.STAGE_FAILED


def test_posting_retries_back_off_then_need_attention(make_portal, sandbox, caplog, faults):
    app, server = make_portal(MAX_ATTEMPTS=3)
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    faults.arm(Fault("pims", "*", mode="fault", times=100))
    visitor.follow(back)
    portal = (app, server)
    reconcile(portal)  # not due yet: backoff
    assert only_payment(portal).attempts == 1
    with caplog.at_level(logging.ERROR):
        reconcile(portal, "--all")
        reconcile(portal, "--all")
    payment = only_payment(portal)
    assert payment.state == states.NEEDS_ATTENTION and payment.attempts == 3
    assert any("PAYMENT NEEDS ATTENTION" in r.message and payment.reference in r.message
               and payment.cayan_token in r.message for r in caplog.records)
    listing = app.test_cli_runner().invoke(args=["cpp", "payments", "--needs-attention"]).output
    assert payment.reference in listing and "needs_attention" in listing and "INV-10244" in listing
    # once PIMS is back, staff post it with one command
    faults.clear()
    retried = app.test_cli_runner().invoke(args=["cpp", "retry", payment.reference])
    assert retried.exit_code == 0 and "posted" in retried.output
    assert only_payment(portal).state == states.POSTED
    assert len(sandbox.pims.all_payments()) == 1


def test_a_charge_voided_at_cayan_while_pims_was_down_is_never_posted(make_portal, sandbox,
                                                                       faults, smtp):
    """PIMS down after the charge; meanwhile the shop gives the money back in Cayan's Virtual
    Terminal. Reconcile's next try must not apply it in PIMS, nor send a receipt: it goes to
    staff, saying why."""
    from cpp.cayan.client import get_cayan
    app, server = make_portal(MAX_ATTEMPTS=3)
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    faults.arm(Fault("pims", "ApplyPayment", mode="http500"))
    visitor.follow(back)
    portal = (app, server)
    payment = only_payment(portal)
    assert payment.state == states.APPROVED
    with app.app_context():
        assert get_cayan().void(payment.cayan_token, payment.transaction_id).approved
    reconcile(portal, "--all")
    payment = only_payment(portal)
    assert payment.state == states.NEEDS_ATTENTION
    assert payment.failure_reason.startswith("The charge was voided at Cayan")
    assert sandbox.pims.all_payments() == [] and smtp.messages() == []


def test_unsent_receipt_is_sent_by_reconcile(make_portal, sandbox, smtp, closed_port):
    app, server = make_portal(MAIL_PORT=closed_port)
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    ledger = app.extensions["ledger"]
    assert eventually(lambda: ledger.find()[0].receipt_status,
                      lambda status: status != "sending") == "unsent"
    app.config["MAIL_PORT"] = smtp.port
    app.extensions["mail"].port = smtp.port
    reconcile((app, server), "--all")
    assert app.extensions["ledger"].find()[0].receipt_status == "sent"
    assert len(smtp.messages()) == 1


def test_payments_listing_and_history(portal, visitor):
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244", "INV-10252"]), APPROVE))
    reference = only_payment(portal).reference
    runner = portal[0].test_cli_runner()
    listing = runner.invoke(args=["cpp", "payments"]).output
    assert reference in listing and "posted" in listing and "546.50" in listing
    assert "M-1000" in listing and "INV-10244, INV-10252" in listing
    history = runner.invoke(args=["cpp", "payment", reference]).output
    for change in ("-> new", "new -> staged", "staged -> approved", "approved -> posted"):
        assert change in history, change
    assert "Nothing needs attention." in runner.invoke(args=["cpp", "payments",
                                                             "--needs-attention"]).output


def test_background_job_posts_abandoned_payments_by_itself(make_portal, sandbox, smtp):
    app, server = make_portal(RECONCILE_EVERY=0.2)
    app.config["PAYMENT_TIMEOUT"] = 0
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    import cpp.payments.reconcile as reconcile_module

    original = reconcile_module.STAGED_QUIET_SECONDS
    reconcile_module.STAGED_QUIET_SECONDS = 0
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and app.extensions["ledger"].find()[0].state != states.POSTED:
            time.sleep(0.1)
    finally:
        reconcile_module.STAGED_QUIET_SECONDS = original
        reconcile_module.stop_background(app)
    assert app.extensions["ledger"].find()[0].state == states.POSTED
    assert len(sandbox.pims.all_payments()) == 1


def test_result_page_after_reconcile_shows_success(portal, visitor):
    visitor.login("M-1000")
    visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
    reconcile(portal, "--all")
    reference = only_payment(portal).reference
    assert "Thank you! Your payment was successful" in text_of(
        visitor.get(f"/payments/{reference}").text)


def test_pay_bill_again_after_paying_in_a_closed_tab_is_told_it_is_paid(portal, visitor, sandbox):
    visitor.login("M-1000")
    visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)  # paid; the tab was closed
    response = visitor.pay_bill(["INV-10244|19900"])
    assert response.headers["Location"] == "/invoices"
    text = text_of(visitor.follow(portal[1].url + "/invoices").text)
    assert "You have already paid this invoice" in text and "Please don't pay again" in text
    assert "INV-10244" not in visitor.invoice_choices()  # and it was posted meanwhile
    assert only_payment(portal).state == states.POSTED
    assert len(sandbox.pims.all_payments()) == 1


@pytest.mark.parametrize("where", ["ledger database", "redis"])
def test_one_reconcile_pass_at_a_time_across_processes(make_portal, sandbox, where):
    """Each portal process's background job and the scheduled command share one lock: while
    one pass runs, another is skipped (and the command says so), whatever the shared state."""
    settings = {}
    if where == "redis":
        settings["REDIS_URL"] = redis_test_url(14)
    app, server = make_portal(**settings)
    other_process, _ = make_portal(**settings, DATABASE=app.config["DATABASE"])
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)  # paid; the tab was closed
    with other_process.app_context(), only_one_at_a_time("reconcile", 60) as ours:
        assert ours
        with app.app_context():
            assert reconcile_pass()["skipped"] == 1
            # A scheduled run: not a failure, the pass under way does the work.
            cli = app.test_cli_runner().invoke(args=["cpp", "reconcile"])
            assert cli.exit_code == 0 and "Another process is reconciling" in cli.output
            # Someone asking for everything now is told it did not happen.
            cli = app.test_cli_runner().invoke(args=["cpp", "reconcile", "--all"])
            assert cli.exit_code == 1 and "Nothing was done" in cli.output
        assert only_payment((app, server)).state == states.STAGED  # nothing was done
    with app.app_context():
        assert reconcile_pass(force=True)["skipped"] == 0
    assert only_payment((app, server)).state == states.POSTED
    assert len(sandbox.pims.all_payments()) == 1


def test_a_forced_pass_never_takes_over_a_slow_receipt_still_being_sent(make_portal, sandbox,
                                                                         faults, smtp):
    """A loaded mail server answers each step within MAIL_TIMEOUT, the whole send taking
    longer than two of them. A forced pass meanwhile must not take the receipt over as if its
    sender had died (it waits mailer.longest_send()): the customer would get it twice."""
    app, server = make_portal(MAIL_TIMEOUT=2)
    for step in ("MAIL", "RCPT", "DATA"):
        faults.arm(Fault("smtp", step, mode="slow", seconds=1.5))
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    visitor.follow(visitor.card_page(visitor.pay(["INV-10244"]), APPROVE))
    time.sleep(4.2)  # more than 2 x MAIL_TIMEOUT into the send, which takes 4.5 s
    reconcile((app, server), "--all")
    payment = eventually(lambda: only_payment((app, server)),
                         lambda p: p.receipt_status == states.RECEIPT_SENT)
    assert payment.receipt_status == states.RECEIPT_SENT
    time.sleep(0.5)
    assert len(smtp.messages()) == 1


def test_a_send_that_drags_on_is_cut_off_at_its_limit(make_app, faults, smtp):
    """Every answer within MAIL_TIMEOUT, the whole send past send_limit(): cut off and failed
    (the receipt is retried), never still going when reconcile may take it over."""
    from cpp import mailer
    app = make_app(MAIL_TIMEOUT=1)
    faults.arm(Fault("smtp", "MAIL", mode="slow", seconds=0.7))
    faults.arm(Fault("smtp", "RCPT", mode="slow", seconds=0.7, times=4))  # 3.5 s in all
    message = mailer.EncodedMessage("Receipt", sender="billing@shop.example", body="paid",
                                    recipients=[f"r{n}@customer.example" for n in range(4)])
    with app.app_context():
        assert mailer.send_limit() == 3
        started = time.monotonic()
        with pytest.raises(TimeoutError):  # not "connection unexpectedly closed"
            mailer.send(message)
        assert time.monotonic() - started < 3 + 0.4  # the watchdog wakes 0.1 s late at most
    assert smtp.messages() == []


def test_the_answer_to_the_message_is_waited_for_even_past_the_deadline(make_app, faults,
                                                                         smtp):
    """The message's last byte went out in time; the server's answer to it comes after the
    deadline, within MAIL_TIMEOUT. Cut off then, the receipt would count as unsent though the
    server took it, and go again."""
    from cpp import mailer
    app = make_app(MAIL_TIMEOUT=2)
    faults.arm(Fault("smtp", "MAIL", mode="slow", seconds=1.2))
    faults.arm(Fault("smtp", "RCPT", mode="slow", seconds=1.2, times=3))
    faults.arm(Fault("smtp", "DATA", mode="slow", seconds=1.6))  # out at 4.8 s, answered at 6.4
    message = mailer.EncodedMessage("Receipt", sender="billing@shop.example", body="paid",
                                    recipients=[f"r{n}@customer.example" for n in range(3)])
    with app.app_context():
        assert mailer.send_limit() == 6 and mailer.longest_send() == 8
        started = time.monotonic()
        mailer.send(message)
        assert mailer.send_limit() < time.monotonic() - started < mailer.longest_send()
    assert len(smtp.messages()) == 1


def test_a_mail_server_slow_to_say_goodbye_holds_nothing_up(make_app, faults, smtp):
    """QUIT goes without waiting for its answer: the message is in, and a send still
    'sending' past longest_send() would be taken over by a forced reconcile and sent twice."""
    from cpp import mailer
    app = make_app(MAIL_TIMEOUT=1)
    faults.arm(Fault("smtp", "QUIT", mode="slow", seconds=3))
    message = mailer.EncodedMessage("Receipt", sender="billing@shop.example", body="paid",
                                    recipients=["a@customer.example"])
    with app.app_context():
        started = time.monotonic()
        mailer.send(message)  # no timeout waiting for "221 Bye"
        assert time.monotonic() - started < 2.5  # the answer comes after 3 s
    assert len(smtp.messages()) == 1


def posted_payment(ledger: Ledger, number: str) -> Payment:
    """A payment charged and posted, its receipt not sent yet (as a return leaves it)."""
    reference, _ = record.create(
        ledger, "test", customer_code="M-1000", customer_name="Jordan Rivera",
        customer_email="jordan.rivera@example.com",
        invoices=[PaymentInvoice(number, Decimal("199.00"), "MAIN", None, None)])
    payment = ledger.get(reference)
    record.transition(ledger, payment.id, states.NEW, states.STAGED, "staged",
                      transport_key="tk", validation_key="vk")
    record.transition(ledger, payment.id, states.STAGED, states.APPROVED, "approved",
                      cayan_token="test-token", approved_cents=19900)  # noqa: S106
    record.transition(ledger, payment.id, states.APPROVED, states.POSTED, "posted",
                      pims_payment_id="P1")
    return ledger.get(reference)


def test_a_queued_receipt_taken_over_by_reconcile_is_sent_once(app, smtp):
    """The background sender sends only under the claim it was given: a receipt a forced
    reconcile took over while it waited in the queue is the pass's, and goes out once."""
    ledger = app.extensions["ledger"]
    payment = posted_payment(ledger, "INV-10244")
    claimed_at = utcnow().isoformat()
    assert record.claim_receipt(ledger, payment.id, (states.RECEIPT_NONE,), at=claimed_at)
    # Still queued when a forced pass takes it over (its claim is old enough by then).
    assert record.claim_receipt(ledger, payment.id, states.RECEIPT_TO_SEND)
    with app.app_context():
        assert receipts.deliver_claimed(payment.reference, claimed_at) is False
        assert smtp.messages() == []
        assert receipts.deliver(ledger.get(payment.reference))  # the pass sends it
    assert len(smtp.messages()) == 1


def test_a_pass_never_takes_a_receipt_over_from_a_sender_that_just_took_it_up(app, smtp):
    """The pass read the receipt as left 'sending'; before it claims it, the background sender
    takes it up (restarting its clock). The pass's claim must fail, or both would send it."""
    ledger = app.extensions["ledger"]
    payment = posted_payment(ledger, "INV-10244")
    claimed_at = (utcnow() - dt.timedelta(minutes=20)).isoformat()  # queued for long
    assert record.claim_receipt(ledger, payment.id, (states.RECEIPT_NONE,), at=claimed_at)
    as_read = ledger.get(payment.reference)  # what the pass read: 'sending' for 20 minutes
    assert record.take_claimed_receipt(ledger, payment.id, claimed_at)  # the sender's turn
    with app.app_context():
        assert receipts.send_receipt(as_read, retry=True) is False
        assert receipts.deliver(ledger.get(payment.reference))  # the sender goes on
    assert len(smtp.messages()) == 1


def test_the_background_sender_sends_under_its_claim_and_says_so(app, smtp):
    ledger = app.extensions["ledger"]
    payment = posted_payment(ledger, "INV-10252")
    claimed_at = utcnow().isoformat()
    assert record.claim_receipt(ledger, payment.id, (states.RECEIPT_NONE,), at=claimed_at)
    with app.app_context():
        assert receipts.deliver_claimed(payment.reference, claimed_at) is True
        assert receipts.deliver_claimed(payment.reference, claimed_at) is False  # done once
    assert len(smtp.messages()) == 1
    assert ledger.get(payment.reference).receipt_status == states.RECEIPT_SENT
    actors = [e["actor"] for e in ledger.events(payment.id) if "receipt sent" in e["reason"]]
    assert actors == [receipt_sender.ACTOR]
