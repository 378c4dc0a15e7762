"""The staff dashboard over real HTTP, CSRF on, production configuration: signing in (two-factor
for owners), what each person may open, the payments list and its actions, the alert email,
and the command-line tools a shop uses on installation day."""
from __future__ import annotations

import csv
import io
import re
import time

import pytest

from cpp.payments import history, states
from cpp.sandbox.faults import Fault
from cpp.staff import accounts

from .live import eventually
from .staff_visitor import CLERK, OWNER, StaffVisitor, add_account, code_for
from .test_payments import APPROVE
from .visitor import Visitor, text_of


@pytest.fixture
def staff_portal(make_portal):
    app, server = make_portal(STAFF_ALERT_EMAILS=["alerts@shop.example"])
    add_account(app, *OWNER, "owner")
    add_account(app, *CLERK, "staff")
    return app, server


def paid(server_url: str, numbers: list[str], account: str = "M-1000") -> Visitor:
    customer = Visitor(server_url)
    customer.login(account)
    back = customer.card_page(customer.pay(numbers), APPROVE)
    customer.follow(back)
    return customer


def activity_of(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        from cpp.staff import activity
        return [(row["who"], row["action"], row["detail"]) for row in activity.recent(200)]


# -- signing in --------------------------------------------------------------------------------

def test_an_owner_sets_up_two_factor_at_the_first_sign_in_and_needs_it_after(staff_portal):
    app, server = staff_portal
    owner = StaffVisitor(server.url)
    page = owner.sign_in(*OWNER)
    assert page.url.endswith("/staff/two-factor/set-up")
    assert "<svg" in page.text and "Scan this code" in text_of(page.text)
    # Until the code is given nothing else opens.
    assert owner.get("/staff/payments").url.endswith("/staff/two-factor/set-up")
    owner.get("/staff/two-factor/set-up")
    wrong = owner.post_form("/staff/two-factor/set-up", {"code": "000000"})
    assert wrong.status_code == 400 and "not right" in text_of(wrong.text)
    owner.sign_in_owner()  # reads the secret off the page and gives its code
    assert "Needs attention" in text_of(owner.get("/staff/").text)
    owner.post_form("/staff/sign-out", {})
    # Next time: password, then a code, and a code already used is refused.
    page = owner.sign_in(*OWNER)
    assert page.url.endswith("/staff/two-factor")
    # The very code given at set-up: the one of "now" is another once 30 seconds turn over
    # between the two sign-ins, and was accepted then (a test that failed one run in many).
    used = owner.post_form("/staff/two-factor", {"code": owner.last_code})
    assert used.status_code == 400
    # The password alone cannot set up a new authenticator instead.
    assert owner.get("/staff/two-factor/set-up").url.endswith("/staff/two-factor")
    assert owner.post_form("/staff/two-factor/set-up", {"code": "123456"}) \
        .url.endswith("/staff/two-factor")
    assert owner.post_form("/staff/two-factor", {"code": code_for(owner.secret, 1)}) \
        .url.endswith("/staff/")
    actions = [action for _, action, _ in activity_of(app)]
    assert {"two-factor turned on", "signed in", "signed out", "failed sign-in"} <= set(actions)


def test_staff_may_sign_in_without_two_factor(staff_portal):
    clerk = StaffVisitor(staff_portal[1].url)
    assert clerk.sign_in(*CLERK).url.endswith("/staff/")


@pytest.mark.parametrize("email", [CLERK[0], "nobody@shop.example"])
def test_one_message_whether_the_account_exists_and_a_lockout_after_five(staff_portal, email):
    visitor = StaffVisitor(staff_portal[1].url)
    for _ in range(5):
        page = visitor.sign_in(email, "not the password at all")
        assert page.status_code == 400 and "The email or password is incorrect." in page.text
    page = visitor.sign_in(email, CLERK[1] if email == CLERK[0] else "x")
    assert page.status_code == 429 and "paused" in text_of(page.text)
    assert ("nobody@shop.example" if email != CLERK[0] else CLERK[0],
            "sign-in locked out", "") in activity_of(staff_portal[0])


def test_a_disabled_account_is_out_at_its_next_page(staff_portal):
    app, server = staff_portal
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    team = owner.get("/staff/team")
    clerk_id = accounts_by_email(app)[CLERK[0]].id
    assert owner.post_form(f"/staff/team/{clerk_id}/disable", {}).status_code == 200
    assert "clerk@shop.example is disabled" in text_of(owner.last.text)
    assert clerk.get("/staff/").url.split("?")[0].endswith("/staff/sign-in")
    assert clerk.sign_in(*CLERK).status_code == 400
    assert team.status_code == 200


def accounts_by_email(app) -> dict[str, accounts.StaffAccount]:
    with app.app_context():
        return {a.email: a for a in accounts.all_accounts()}


def test_the_staff_session_has_its_own_cookie_and_ends_on_the_server(staff_portal):
    app, server = staff_portal
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    cookie = next(c for c in clerk.session.cookies if c.name == "cpp_staff")
    assert cookie.path == "/staff" and cookie.has_nonstandard_attr("HttpOnly")
    assert "SameSite=Strict" in clerk.last.history[0].headers["Set-Cookie"]
    # Not a customer session: the customer pages know nothing of it.
    assert clerk.get("/invoices").url.split("?")[0].endswith("/login")
    # Copied before signing out, dead after it.
    thief = StaffVisitor(server.url)
    thief.session.cookies.set("cpp_staff", cookie.value, path="/staff")
    assert thief.get("/staff/payments").url.endswith("/staff/payments")
    clerk.get("/staff/")
    clerk.post_form("/staff/sign-out", {})
    assert thief.get("/staff/payments").url.split("?")[0].endswith("/staff/sign-in")


def test_guesses_at_the_current_password_count_with_the_sign_ins(staff_portal):
    """A session left open (a counter PC) let anyone guess the password on the change form
    without limit. The guesses now share the sign-in's five, are on the Activity page, and the
    sixth is refused whatever it says; signing in is paused too."""
    app, server = staff_portal
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get("/staff/account")
    new = CLERK[1] + " renewed"
    for _ in range(5):
        wrong = clerk.post_form("/staff/account", {"current": "not it", "password": new,
                                                   "confirm": new})
        assert wrong.status_code == 400
    paused = clerk.post_form("/staff/account", {"current": CLERK[1], "password": new,
                                                "confirm": new})
    assert paused.status_code == 429 and "paused for 15 minutes" in text_of(paused.text)
    assert ("clerk@shop.example", "failed password check", "changing own password") in \
        activity_of(app)
    assert ("clerk@shop.example", "sign-in locked out", "changing own password") in \
        activity_of(app)
    elsewhere = StaffVisitor(server.url)
    page = elsewhere.sign_in(*CLERK)
    assert page.status_code == 429
    with app.app_context():  # the password did not change
        from cpp.staff import accounts
        assert accounts.check_password(CLERK[0], CLERK[1]) is not None


def test_a_new_password_or_a_two_factor_reset_ends_every_session_of_that_account(staff_portal):
    app, server = staff_portal
    clerk_elsewhere = StaffVisitor(server.url)
    clerk_elsewhere.sign_in(*CLERK)
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get("/staff/account")
    new = CLERK[1] + " renewed"
    wrong = clerk.post_form("/staff/account", {"current": "not it", "password": new,
                                               "confirm": new})
    assert wrong.status_code == 400 and "current password is not right" in text_of(wrong.text)
    assert clerk_elsewhere.get("/staff/").url.endswith("/staff/")
    done = clerk.post_form("/staff/account", {"current": CLERK[1], "password": new,
                                              "confirm": new})
    assert "Your password is changed." in text_of(done.text)
    assert clerk.get("/staff/payments").url.endswith("/staff/payments")  # this one carries on
    assert clerk_elsewhere.get("/staff/").url.split("?")[0].endswith("/staff/sign-in")
    # An owner resets it from the Team page: the clerk's session ends too.
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    owner.get("/staff/team")
    clerk_id = accounts_by_email(app)[CLERK[0]].id
    page = owner.post_form(f"/staff/team/{clerk_id}/password",
                           {f"person{clerk_id}-password": CLERK[1],
                            f"person{clerk_id}-confirm": CLERK[1]})
    assert "clerk@shop.example has a new password" in text_of(page.text)
    assert clerk.get("/staff/").url.split("?")[0].endswith("/staff/sign-in")
    assert clerk.sign_in(*CLERK).url.endswith("/staff/")
    # And from the command line.
    result = app.test_cli_runner().invoke(args=["cpp", "staff", "reset-2fa", CLERK[0]])
    assert result.exit_code == 0
    assert clerk.get("/staff/").url.split("?")[0].endswith("/staff/sign-in")


def test_an_idle_staff_session_ends(make_portal):
    app, server = make_portal(STAFF_SESSION_IDLE_MINUTES=0.02)  # 1.2 seconds
    add_account(app, *CLERK, "staff")
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    time.sleep(1.5)
    page = clerk.get("/staff/payments")
    assert page.url.split("?")[0].endswith("/staff/sign-in")
    assert "signed out after a period of inactivity" in text_of(page.text)


# -- the payments ------------------------------------------------------------------------------

@pytest.mark.parametrize("ledger_database", ["sqlite", "postgresql"], indirect=True)
def test_payments_list_search_filters_and_csv(staff_portal, sandbox):
    app, server = staff_portal
    paid(server.url, ["INV-10244"])
    paid(server.url, ["INV-10252"])
    with app.app_context():
        first, second = sorted(app.extensions["ledger"].find(), key=lambda p: p.id)
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    listing = text_of(clerk.get("/staff/payments").text)
    assert listing.index(second.reference) < listing.index(first.reference)  # newest first
    for term in (first.reference, "INV-10244", first.authorization_code, "jordan"):
        page = text_of(clerk.get("/staff/payments", params={"q": term}).text)
        assert first.reference in page and (second.reference in page) == (term == "jordan"), term
    by_card = text_of(clerk.get("/staff/payments", params={"q": first.card_last4}).text)
    assert "2 payments" in by_card  # the same test card paid both
    assert "0 payments" in text_of(clerk.get("/staff/payments", params={"q": "9999"}).text)
    assert "2 payments" in text_of(clerk.get("/staff/payments",
                                              params={"customer": "m-1000"}).text)
    assert "0 payments" in text_of(clerk.get("/staff/payments",
                                              params={"state": "declined"}).text)
    assert "No payments match" in text_of(clerk.get("/staff/payments",
                                                    params={"since": "2999-01-01"}).text)
    exported = clerk.get("/staff/payments.csv", params={"q": "INV-10252"})
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["reference"] for row in rows] == [second.reference]
    assert rows[0]["amount"] == f"{second.amount:.2f}" and rows[0]["state"] == "posted"
    detail = text_of(clerk.get(f"/staff/payments/{first.reference}").text)
    for fact in (first.cayan_token, first.authorization_code, first.pims_payment_id,
                 "staged → On card page".split(" → ")[1]):
        assert fact in detail
    assert ("clerk@shop.example", "exported payments", "{'q': 'INV-10252'}") \
        in activity_of(app)
    # Typing mistakes in the address bar give a page, never an error.
    for params in ({"until": "9999-12-31"}, {"since": "0001-01-01"},
                   {"page": "99999999999999999999"}, {"since": "yesterday"}):
        assert clerk.get("/staff/payments", params=params).status_code == 200, params
        assert clerk.get("/staff/payments.csv", params=params).status_code == 200, params
    assert clerk.get("/staff/activity", params={"page": "99999999999999999999"}) \
        .status_code == 200


def test_a_spreadsheet_formula_from_pims_is_text_in_the_csv(staff_portal, sandbox):
    app, server = staff_portal
    import datetime as dt
    from decimal import Decimal
    with sandbox.pims.transaction() as db:
        sandbox.pims.add_customer(db, "H-9", "demo", '=HYPERLINK("http://evil.example","x")',
                                  "h9@customer.example", "MAIN")
        sandbox.pims.add_invoice(db, "INV-990", "H-9", dt.date.today(), dt.date.today(),
                                 "MAIN", None, "x", Decimal("5.00"))
    paid(server.url, ["INV-990"], account="H-9")
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    row = next(csv.DictReader(io.StringIO(clerk.get("/staff/payments.csv").text)))
    assert row["customer name"].startswith("'=HYPERLINK")
    # And on the page it is only text.
    page = clerk.get("/staff/payments", params={"customer": "H-9"}).text
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in page or \
        "=HYPERLINK(&quot;http://evil.example&quot;" in page


def needs_attention_payment(app, server, sandbox):
    """A charge PIMS refused (the invoice was paid at the counter meanwhile)."""
    customer = Visitor(server.url)
    customer.login("M-1000")
    back = customer.card_page(customer.pay(["INV-10244"]), APPROVE)
    with sandbox.pims.transaction() as db:
        db.execute("UPDATE invoices SET balance_cents = 0 WHERE number = 'INV-10244'")
    customer.follow(back)
    with app.app_context():
        (payment,) = app.extensions["ledger"].find()
    assert payment.state == states.NEEDS_ATTENTION
    return payment


def test_a_payment_needing_attention_alerts_once_is_first_on_home_and_can_be_retried(
        staff_portal, sandbox, smtp):
    app, server = staff_portal
    payment = needs_attention_payment(app, server, sandbox)
    alerts = [m for m in smtp.messages() if "alerts@shop.example" in m["rcpt_to"]]
    assert len(alerts) == 1 and payment.reference in alerts[0]["subject"]
    assert f"/staff/payments/{payment.reference}" in alerts[0]["text"]
    with app.app_context():  # reconcile does not alert again
        from cpp.payments.reconcile import reconcile
        reconcile(force=True)
    assert len([m for m in smtp.messages() if "alerts@shop.example" in m["rcpt_to"]]) == 1
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    home = clerk.get("/staff/")
    assert 'aria-label="1 need attention"' in home.text
    text = text_of(home.text)
    assert text.index("Needs attention") < text.index("Last 30 days")
    assert payment.reference in text
    # The shop reopens the invoice in PIMS, then retries: posted, receipt sent.
    with sandbox.pims.transaction() as db:
        db.execute("UPDATE invoices SET balance_cents = 19900 WHERE number = 'INV-10244'")
    clerk.get(f"/staff/payments/{payment.reference}")
    page = clerk.post_form(f"/staff/payments/{payment.reference}/retry", {})
    assert "Done: the payment is now posted." in text_of(page.text)
    with app.app_context():
        after = app.extensions["ledger"].get(payment.reference)
    assert after.state == states.POSTED and after.receipt_status == states.RECEIPT_SENT
    assert len(sandbox.pims.all_payments()) == 1
    assert ("clerk@shop.example", "retried payment", payment.reference) in activity_of(app)
    assert 'need attention"' not in clerk.get("/staff/").text


def test_a_retry_that_fails_again_says_what_stops_it_now(staff_portal, sandbox, faults):
    """Refused by PIMS, then retried once the invoice is reopened, while PIMS is down: staff
    are told PIMS is unavailable, not the refusal that has been put right, and never that it
    "will retry" (nothing retries a payment with staff on its own)."""
    app, server = staff_portal
    payment = needs_attention_payment(app, server, sandbox)
    with sandbox.pims.transaction() as db:
        db.execute("UPDATE invoices SET balance_cents = 19900 WHERE number = 'INV-10244'")
    faults.arm(Fault("pims", "ApplyPayment", mode="http500"))
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get(f"/staff/payments/{payment.reference}")
    text = text_of(clerk.post_form(f"/staff/payments/{payment.reference}/retry", {}).text)
    assert "it still needs attention: PIMS unavailable" in text
    assert "balance" not in text.split("still needs attention")[1][:80]
    with app.app_context():
        after = app.extensions["ledger"].get(payment.reference)
        events = app.extensions["ledger"].events(payment.id)
    assert after.state == states.NEEDS_ATTENTION and "PIMS unavailable" in after.failure_reason
    assert not any("will retry" in event["reason"] for event in events)


def test_a_charge_voided_at_cayan_is_never_posted_by_a_retry(staff_portal, sandbox, smtp):
    """The shop gave the money back in Cayan's Virtual Terminal (a void) while the payment
    waited for staff; then someone pressed Retry. Applying it in PIMS would mark the invoice
    paid with money given back: it is not applied, no receipt goes out, and staff are told."""
    from cpp.cayan.client import get_cayan
    app, server = staff_portal
    payment = needs_attention_payment(app, server, sandbox)
    with sandbox.pims.transaction() as db:  # reopened in PIMS: a retry would post it
        db.execute("UPDATE invoices SET balance_cents = 19900 WHERE number = 'INV-10244'")
    with app.app_context():
        assert get_cayan().void(payment.cayan_token, payment.transaction_id).approved
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get(f"/staff/payments/{payment.reference}")
    text = text_of(clerk.post_form(f"/staff/payments/{payment.reference}/retry", {}).text)
    assert "The charge was voided at Cayan, so it was not applied in PIMS." in text
    with app.app_context():
        after = app.extensions["ledger"].get(payment.reference)
        assert not history.has_receipt(after)  # nor offered to the customer as paid
    assert after.state == states.NEEDS_ATTENTION and after.receipt_status == states.RECEIPT_NONE
    # Retried again, it is recorded for what it is: voided.
    clerk.get(f"/staff/payments/{payment.reference}")
    clerk.post_form(f"/staff/payments/{payment.reference}/retry", {})
    with app.app_context():
        assert app.extensions["ledger"].get(payment.reference).state == states.VOIDED
    assert sandbox.pims.all_payments() == []
    assert not [m for m in smtp.messages() if "alerts@shop.example" not in m["rcpt_to"]]


@pytest.mark.both_databases
def test_two_owners_disabling_each_other_at_once_leave_one_owner(staff_portal):
    """Each saw another owner left, and both were disabled: no owner could then open Team or
    Manage Settings. The check and the change are one serialized write now."""
    import threading

    from cpp.staff import accounts

    app, _ = staff_portal
    add_account(app, "owner2@shop.example", "fake second owner passphrase", "owner")
    owners = (OWNER[0], "owner2@shop.example")

    def disable(email: str, barrier: threading.Barrier, results: list) -> None:
        with app.app_context():
            barrier.wait()
            try:
                accounts.set_disabled(email, True)
                results.append("disabled")
            except accounts.AccountError as exc:
                results.append(str(exc))

    for _ in range(5):
        barrier, results = threading.Barrier(2), []
        threads = [threading.Thread(target=disable, args=(email, barrier, results))
                   for email in owners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results) == ["This is the last owner: add another owner before "
                                   "disabling it.", "disabled"]
        with app.app_context():
            assert [a.email for a in accounts.all_accounts() if a.is_owner and not a.disabled]
            for email in owners:
                accounts.set_disabled(email, False)


def test_home_says_every_payment_is_finished_only_when_it_is(staff_portal):
    """A customer left on the card page (or a charge not yet posted) is not finished, though
    it is not the shop's to act on either."""
    app, server = staff_portal
    customer = Visitor(server.url)
    customer.login("M-1000")
    card_page = customer.pay(["INV-10244"])
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    text = text_of(clerk.get("/staff/").text)
    assert "Nothing needs attention. 1 payment is in progress" in text
    assert "Every payment is finished" not in text
    customer.follow(customer.card_page(card_page, APPROVE))
    assert "Nothing needs attention. Every payment is finished." in text_of(
        clerk.get("/staff/").text)


def test_an_alert_the_mail_server_missed_goes_with_the_next_reconcile_pass(
        staff_portal, sandbox, smtp, faults):
    from cpp.sandbox.faults import Fault
    app, server = staff_portal
    faults.arm(Fault("smtp", "DATA", mode="fault"))  # the first email: the alert
    payment = needs_attention_payment(app, server, sandbox)

    def alerts():
        return [m for m in smtp.messages() if "alerts@shop.example" in m["rcpt_to"]]
    assert alerts() == []
    from cpp.payments.reconcile import reconcile
    with app.app_context():
        assert reconcile(force=True)["staff alerts sent"] == 1
        assert "staff alerts sent" not in reconcile(force=True)
    assert len(alerts()) == 1 and payment.reference in alerts()[0]["subject"]


def test_an_owner_adds_staff_on_the_web(staff_portal):
    app, server = staff_portal
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    owner.get("/staff/team")
    form = {"email": "new@shop.example", "role": "staff", "password": "qwertyuiop12",
            "confirm": "qwertyuiop12"}
    weak = owner.post_form("/staff/team", form)
    assert weak.status_code == 400 and "commonly used password" in text_of(weak.text)
    differ = owner.post_form("/staff/team", {**form, "password": CLERK[1] + "!"})
    assert differ.status_code == 400 and "The two passwords differ." in text_of(differ.text)
    added = owner.post_form("/staff/team", {**form, "password": CLERK[1] + "!",
                                            "confirm": CLERK[1] + "!"})
    assert "new@shop.example can now sign in as staff" in text_of(added.text)
    assert StaffVisitor(server.url).sign_in("new@shop.example", CLERK[1] + "!") \
        .url.endswith("/staff/")
    assert ("owner@shop.example", "added staff", "new@shop.example as staff") \
        in activity_of(app)


def test_marking_resolved_needs_a_note_and_records_who(staff_portal, sandbox):
    app, server = staff_portal
    payment = needs_attention_payment(app, server, sandbox)
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get(f"/staff/payments/{payment.reference}")
    refused = clerk.post_form(f"/staff/payments/{payment.reference}/resolve", {"note": ""})
    assert "Say what was done" in text_of(refused.text)
    page = clerk.post_form(f"/staff/payments/{payment.reference}/resolve",
                           {"note": "Applied by hand in PIMS as receipt 5512", "confirm": "y"})
    assert "Marked resolved" in text_of(page.text)
    with app.app_context():
        ledger = app.extensions["ledger"]
        assert ledger.get(payment.reference).state == states.RESOLVED
        last = ledger.events(payment.id)[-1]
    assert last["to_state"] == states.RESOLVED and "receipt 5512" in last["reason"]
    assert last["actor"] == "staff clerk@shop.example"
    # Not counted as paid on the home page (it may have been settled by voiding the charge).
    today = re.search(r'aria-label="Today">\s*<h3>Today</h3>\s*<p class="figure__amount">'
                      r'([^<]+)</p>', clerk.get("/staff/").text)
    assert today.group(1) == "$0.00"
    # Nothing more can be done to it; the customer sees it settled.
    again = clerk.post_form(f"/staff/payments/{payment.reference}/retry", {})
    assert "Only a payment that needs attention" in text_of(again.text)
    assert sandbox.pims.all_payments() == []


def test_resending_a_receipt_to_another_address(staff_portal, smtp):
    app, server = staff_portal
    paid(server.url, ["INV-10244"])
    with app.app_context():
        (payment,) = app.extensions["ledger"].find()
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get(f"/staff/payments/{payment.reference}")
    for unusable in ("not-an-email", "zoë@customer.example"):  # the second: no SMTPUTF8
        bad = clerk.post_form(f"/staff/payments/{payment.reference}/resend", {"to": unusable})
        assert "That address can't be used for email" in text_of(bad.text)
        clerk.get(f"/staff/payments/{payment.reference}")
    clerk.get(f"/staff/payments/{payment.reference}")
    page = clerk.post_form(f"/staff/payments/{payment.reference}/resend",
                           {"to": "bookkeeper@customer.example"})
    assert "Receipt sent to bookkeeper@customer.example" in text_of(page.text)
    copy = [m for m in smtp.messages() if "bookkeeper@customer.example" in m["rcpt_to"]]
    assert len(copy) == 1 and payment.reference in copy[0]["text"]
    with app.app_context():
        events = app.extensions["ledger"].events(payment.id)
    assert "receipt resent to bookkeeper@customer.example" in events[-1]["reason"]


def test_a_failed_receipt_resent_to_a_corrected_address_is_done(staff_portal, smtp, faults):
    """Every try to email the receipt failed (a mail server refusing it, say), so it waits for
    staff. Sent now to a corrected address, it is sent: no longer listed as needing
    attention, which nothing else could clear."""
    app, server = staff_portal
    app.config["MAX_ATTEMPTS"] = 1
    faults.arm(Fault("smtp", "DATA", mode="fault"))
    paid(server.url, ["INV-10244"])
    with app.app_context():
        (payment,) = app.extensions["ledger"].find()
    payment = eventually(lambda: app.extensions["ledger"].get(payment.reference),
                         lambda p: p.receipt_status == states.RECEIPT_FAILED)
    assert payment.receipt_status == states.RECEIPT_FAILED
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    assert 'aria-label="1 need attention"' in clerk.get("/staff/").text
    clerk.get(f"/staff/payments/{payment.reference}")
    page = clerk.post_form(f"/staff/payments/{payment.reference}/resend",
                           {"to": "fixed@customer.example"})
    assert "Receipt sent to fixed@customer.example" in text_of(page.text)
    assert len([m for m in smtp.messages() if "fixed@customer.example" in m["rcpt_to"]]) == 1
    with app.app_context():
        after = app.extensions["ledger"].get(payment.reference)
    assert after.receipt_status == states.RECEIPT_SENT
    assert 'need attention"' not in clerk.get("/staff/").text


# -- health and the command line ---------------------------------------------------------------

def test_health_is_green_with_the_sandbox_and_red_with_a_reason(make_portal, closed_port):
    app, server = make_portal()
    add_account(app, *CLERK, "staff")
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    page = text_of(clerk.get("/staff/health").text)
    assert page.count("Working") == 3 and "Not working" not in page
    assert "CPP sandbox PIMS" in page and "has not run yet" in page
    with app.app_context():
        from cpp.payments.reconcile import reconcile
        reconcile(force=True)
    assert "Last ran" in text_of(clerk.get("/staff/health").text)
    broken, broken_server = make_portal(CAYAN_MERCHANT_KEY="WRONG-KEY-FOR-TEST",
                                        MAIL_PORT=closed_port)
    result = broken.test_cli_runner().invoke(args=["cpp", "check"])
    assert result.exit_code == 1
    assert "OK   PIMS" in result.output
    assert "FAIL Cayan" in result.output and "credentials rejected" in result.output
    assert "FAIL Mail (SMTP)" in result.output and "refused" in result.output


def test_the_staff_commands(make_app):
    app = make_app()
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=["cpp", "staff", *args], input=input)

    weak = run("add", "boss@shop.example", "--role", "owner", input="password123\npassword123\n")
    assert weak.exit_code == 1 and "Use at least 12 characters" in weak.output
    common = run("add", "boss@shop.example", input="password12345\npassword12345\n")
    assert common.exit_code == 1 and "commonly used password" in common.output
    differ = run("add", "boss@shop.example", input=f"{OWNER[1]}\nsomething else\n")
    assert "do not match" in differ.output.lower()
    assert run("add", "Boss@Shop.example", "--role", "owner",
               input=f"{OWNER[1]}\n{OWNER[1]}\n").exit_code == 0
    again = run("add", "boss@shop.example", input=f"{OWNER[1]}\n{OWNER[1]}\n")
    assert again.exit_code == 1 and "already an account" in again.output
    listing = run("list").output
    assert "boss@shop.example" in listing and "owner" in listing and "2FA off" in listing
    last_owner = run("disable", "boss@shop.example")
    assert last_owner.exit_code == 1 and "last owner" in last_owner.output
    assert run("reset-password", "boss@shop.example", "--password", CLERK[1]).exit_code == 0
    with app.app_context():
        assert accounts.check_password("boss@shop.example", CLERK[1]) is not None
        assert accounts.check_password("boss@shop.example", OWNER[1]) is None
    assert run("reset-2fa", "boss@shop.example").exit_code == 0
    assert run("disable", "nobody@shop.example").exit_code == 1
    assert run("allow-ip", "not-an-address").exit_code == 1


def test_a_locked_out_owner_gets_back_in_with_allow_ip(make_portal):
    app, server = make_portal(STAFF_ALLOWED_IPS=["192.0.2.0/24"])
    add_account(app, *CLERK, "staff")
    page = StaffVisitor(server.url).get("/staff/sign-in")
    assert page.status_code == 403 and "shop's own network" in text_of(page.text)
    result = app.test_cli_runner().invoke(args=["cpp", "staff", "allow-ip", "127.0.0.1"])
    assert result.exit_code == 0
    assert StaffVisitor(server.url).sign_in(*CLERK).url.endswith("/staff/")
    assert ("command line", "changed settings", "STAFF_ALLOWED_IPS + 127.0.0.1") \
        in activity_of(app)


def test_the_demo_dashboard_agrees_with_sandbox_pims_and_cayan(demo):
    from cpp.sandbox.demo import DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD, ensure_demo_owner
    from cpp.sandbox.pims_store import payment_id

    app, server = demo
    ensure_demo_owner(app)
    paid(server.url, ["INV-10244", "INV-10252"])
    owner = StaffVisitor(server.url)
    assert owner.sign_in(DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD).url.endswith("/staff/")
    (in_pims,) = app.extensions["sandbox_pims"].all_payments()
    (sale,) = app.extensions["sandbox_cayan"].all_transactions()
    page = text_of(owner.get(f"/staff/payments/{in_pims['reference']}").text)
    assert payment_id(in_pims["id"]) in page and str(sale["token"]) in page
    assert "$546.50" in page and in_pims["amount_cents"] == 54650 == sale["amount_cents"]
    assert f"Visa ending {sale['card_last4']}" in page


def test_staff_make_a_pay_link_on_the_dashboard(make_portal):
    from .test_pay_links import LINK_SECRET
    app, server = make_portal(LINK_SECRET=LINK_SECRET)
    add_account(app, *CLERK, "staff")
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get("/staff/pay-links")
    unknown = clerk.post_form("/staff/pay-links", {"customer": "NOPE-1", "days": "7"})
    assert unknown.status_code == 400 and "PIMS has no customer NOPE-1" in text_of(unknown.text)
    page = clerk.post_form("/staff/pay-links", {"customer": "m-1000",
                                                "invoices": "INV-10244 INV-99999", "days": "7"})
    url = re.search(r'<textarea id="made-link"[^>]*>([^<]+)</textarea>', page.text).group(1)
    assert url.startswith(f"{server.url}/pay/l/v1.")
    assert "Not open now, so not shown: INV-99999" in text_of(page.text)
    opened = Visitor(server.url).get(url)
    assert re.findall(r'name="invoice"[^>]*value="([^"|]+)\|', opened.text) == ["INV-10244"]
    (who, action, detail) = next(row for row in activity_of(app) if row[1] == "made pay link")
    assert who == CLERK[0] and "M-1000 INV-10244 INV-99999, link id" in detail
    assert url.rsplit("/", 1)[1] not in detail  # the token itself is never kept


def test_the_pay_links_page_without_a_link_secret_says_how_to_set_it_up(staff_portal):
    app, server = staff_portal
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    assert "Pay links are not set up: set LINK_SECRET" in text_of(clerk.get("/staff/pay-links").text)


def test_a_charge_to_void_says_so_on_its_page_and_in_the_alert(make_portal, sandbox, smtp,
                                                               faults):
    from cpp.sandbox.faults import Fault

    from .test_payments import charged_on_a_replaced_card_page
    app, server = make_portal(MAX_ATTEMPTS=1, STAFF_ALERT_EMAILS=["alerts@shop.example"])
    add_account(app, *CLERK, "staff")
    customer = Visitor(server.url)
    back = charged_on_a_replaced_card_page(customer)
    faults.arm(Fault("credit", "Void", mode="fault"))  # Cayan refuses the void
    customer.follow(back)
    with app.app_context():
        late = next(p for p in app.extensions["ledger"].find() if len(p.invoices) == 2)
    assert late.state == states.NEEDS_ATTENTION
    (alert,) = [m for m in smtp.messages() if "alerts@shop.example" in m["rcpt_to"]]
    assert "must be VOIDED, not applied in PIMS" in " ".join(alert["text"].split())
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    page = text_of(clerk.get(f"/staff/payments/{late.reference}").text)
    assert "This charge must be voided, not applied in PIMS" in page
    assert "void the charge at Cayan" in page and "post it to PIMS" not in page
    assert "voided this charge by hand in Cayan's Virtual Terminal" in page
    clerk.get(f"/staff/payments/{late.reference}")
    clerk.post_form(f"/staff/payments/{late.reference}/retry", {})  # Cayan answers now
    with app.app_context():
        assert app.extensions["ledger"].get(late.reference).state == states.VOIDED
    assert sandbox.pims.all_payments() == []


def test_staff_take_a_pay_link_back_at_once(make_portal):
    from .test_pay_links import LINK_SECRET, link_for
    app, server = make_portal(LINK_SECRET=LINK_SECRET)
    add_account(app, *CLERK, "staff")
    customer = Visitor(server.url)
    customer.get(link_for(server, "M-1000", link_id="WRONG-PERSON"))
    assert customer.get("/pay/l").status_code == 200
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    clerk.get("/staff/pay-links")
    page = clerk.post_form("/staff/pay-links/revoke", {"link_id": "WRONG-PERSON"})
    assert "Link WRONG-PERSON no longer works" in text_of(page.text)
    assert "Taken back: WRONG-PERSON" in text_of(page.text)
    assert customer.get("/pay/l").status_code == 401
    assert Visitor(server.url).get(link_for(server, "M-1000", link_id="WRONG-PERSON")) \
        .status_code == 404
    assert (CLERK[0], "took pay link back", "WRONG-PERSON") in activity_of(app)
