"""Real concurrent requests against the multi-threaded portal: of simultaneous returns or Pay
Bills for the same thing, exactly one does the work."""
from __future__ import annotations

import threading

import pytest
import requests

from cpp.payments import states
from cpp.sandbox.faults import Fault

from .test_payments import APPROVE, ledger_of, only_payment
from .visitor import text_of

# The ledger's compare-and-set must hold on both databases the portal supports.
pytestmark = pytest.mark.both_databases


def at_once(count: int, action) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = action()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_simultaneous_returns_post_once(portal, visitor, sandbox, smtp, faults):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244", "INV-10260"]), APPROVE)
    cookies = visitor.session.cookies.get_dict()
    # PIMS answers slowly, so every request is in flight at the same time
    faults.arm(Fault("pims", "ApplyPayment", mode="hang", when="after", seconds=1))
    responses = at_once(8, lambda: requests.get(back, cookies=cookies, timeout=30))
    assert all(r.status_code == 200 for r in responses), [r.status_code for r in responses]
    payment = only_payment(portal)
    assert faults.calls[("pims", "ApplyPayment")] == 1  # one posting, not eight
    assert len(sandbox.pims.all_payments()) == 1
    transitions = [(e["from_state"], e["to_state"]) for e in ledger_of(portal).events(payment.id)]
    assert transitions.count(("staged", "approved")) == 1
    assert payment.state in (states.APPROVED, states.POSTED)  # the answer was lost: retried later
    visitor.get(f"/payments/{payment.reference}")
    assert len(smtp.messages()) <= 1


def test_simultaneous_returns_all_see_success_and_one_receipt(portal, visitor, sandbox, smtp, faults):
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10252"]), APPROVE)
    cookies = visitor.session.cookies.get_dict()
    responses = at_once(6, lambda: requests.get(back, cookies=cookies, timeout=30))
    texts = [r.text for r in responses]
    bad = [text_of(t)[:400] for t in texts if "Thank you! Your payment was successful" not in t]
    assert not bad, bad
    assert len(sandbox.pims.all_payments()) == 1 and len(smtp.wait_for(1)) == 1
    assert faults.calls[("pims", "ApplyPayment")] == 1


def test_two_tabs_pressing_pay_bill_at_once_stage_one_payment(portal, visitor, sandbox, faults):
    visitor.login("M-1000")
    choices = visitor.invoice_choices()
    token = visitor.token()
    cookies = visitor.session.cookies.get_dict()
    data = {"csrf_token": token, "invoice": [choices["INV-10244"], choices["INV-10266"]]}
    responses = at_once(5, lambda: requests.post(portal[1].url + "/pay", data=data, cookies=cookies,
                                                 allow_redirects=False, timeout=30))
    locations = {r.headers.get("Location") for r in responses}
    assert all(r.status_code == 303 for r in responses)
    card_pages = {url for url in locations if "transportKey=" in url}
    assert len(card_pages) == 1  # all resumed the same payment (or were told to wait)
    assert len(ledger_of(portal).find()) == 1
    assert faults.calls[("transport", "CreateTransaction")] == 1
