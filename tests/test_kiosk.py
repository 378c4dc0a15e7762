"""The counter kiosk over HTTP: Start over on every page ends the session on the server, an
idle kiosk session ends by itself, nothing is kept by the browser, receipts go by email only,
and an owner turns a browser into a kiosk from the dashboard."""
from __future__ import annotations

import re
import time

from cpp.sandbox.faults import Fault

from .staff_visitor import OWNER, StaffVisitor, add_account
from .test_payments import APPROVE
from .visitor import Visitor, text_of


def test_a_kiosk_keeps_nothing_and_starts_over(make_portal, smtp):
    app, server = make_portal(KIOSK_MODE=True)
    first = Visitor(server.url)
    login = first.get("/login")
    assert 'class="kiosk"' in login.text and "Start over" in login.text
    first.login("M-1000")
    invoices = first.get("/invoices")
    assert invoices.headers["Cache-Control"] == "no-store" and "Start over" in invoices.text
    result = first.follow(first.card_page(first.pay(["INV-10244"]), APPROVE))
    assert result.headers["Cache-Control"] == "no-store"
    text = text_of(result.text)
    assert "Thank you! Your payment was successful" in text and "Done" in text
    assert "printable receipt" not in text.lower()
    assert first.get(result.url + "/receipt").status_code == 404  # email only
    assert any("jordan.rivera@example.com" in m["rcpt_to"] for m in smtp.wait_for(1))
    # Start over (no token needed: it only ends a session) and the cookie is dead.
    kept = dict(first.session.cookies.items())
    first.session.post(server.url + "/kiosk/start-over", headers={"Origin": server.url})
    second = Visitor(server.url)
    second.session.cookies.update(kept)
    for path in ("/invoices", "/payments", result.url.replace(server.url, "")):
        page = second.get(path)
        assert "Jordan" not in page.text and "INV-10244" not in page.text, path
        assert page.url.split("?")[0].endswith("/login"), path


def test_an_idle_kiosk_session_ends_on_the_server(make_portal):
    app, server = make_portal(KIOSK_MODE=True, KIOSK_IDLE_SECONDS=15)
    customer = Visitor(server.url)
    customer.login("M-1000")
    page = customer.get("/invoices")
    assert 'data-kiosk-seconds="15"' in page.text
    with app.app_context():  # as if the last touch was 31 seconds ago (twice the countdown)
        from flask.json.tag import TaggedJSONSerializer

        from cpp.server_session import store_key
        from cpp.shared_state import get_shared_state
        sid = customer.session.cookies.get("session")
        state = get_shared_state()
        data = TaggedJSONSerializer().loads(state.load_session(store_key(sid)))
        data["seen_at"] = int(time.time()) - 31
        state.save_session(store_key(sid), TaggedJSONSerializer().dumps(data), time.time() + 60)
    assert customer.get("/invoices").url.split("?")[0].endswith("/login")


def test_an_owner_turns_a_tablet_into_a_kiosk_and_back(make_portal):
    app, server = make_portal()
    add_account(app, *OWNER, "owner")
    tablet = StaffVisitor(server.url)
    tablet.sign_in_owner()
    assert "Set up this browser as a kiosk" in tablet.get("/staff/settings").text
    assert tablet.get("/kiosk").url.endswith("/staff/kiosk")  # the address to type on it
    page = tablet.post_form("/staff/kiosk", {"turn": "on"})
    assert page.url.endswith("/login") and 'class="kiosk"' in page.text
    assert tablet.get("/staff/").url.split("?")[0].endswith("/staff/sign-in")  # signed out
    assert 'class="kiosk"' not in Visitor(server.url).get("/login").text  # only that browser
    tablet.sign_in_owner()
    tablet.get("/staff/kiosk")
    tablet.post_form("/staff/kiosk", {"turn": "off"})
    assert 'class="kiosk"' not in tablet.get("/login").text


def test_on_a_kiosk_the_account_closes_on_the_way_to_the_card_page(make_portal):
    app, server = make_portal(KIOSK_MODE=True)
    first = Visitor(server.url)
    login = first.get("/login")
    assert login.text.count('autocomplete="off"') >= 2  # no password saved on a shared tablet
    first.login("M-1000")
    card_page = first.pay(["INV-10244"])
    # Walked away on Cayan's page: Back on the tablet shows nobody's invoices.
    for path in ("/invoices", "/payments"):
        page = first.get(path)
        assert page.url.split("?")[0].endswith("/login") and "Jordan" not in page.text
    # Had they finished paying, the result is still theirs to see, once.
    result = first.follow(first.card_page(card_page, APPROVE))
    assert "Thank you! Your payment was successful" in text_of(result.text)


def test_on_a_kiosk_continuing_a_payment_also_closes_the_account(make_portal, faults):
    """A refused Pay Bill offers "Continue the payment you started": on a kiosk that way to
    the card page must end the session too, or the next customer finds this account behind
    Back while the card page waits."""
    app, server = make_portal(KIOSK_MODE=True)
    first = Visitor(server.url)
    first.login("M-1000")
    first.pay(["INV-10244"])  # the account closes on the way; not paid
    first.login("M-1000")
    faults.arm(Fault("reporting", "TransactionsByTransactionId", mode="http500"))
    choices = first.invoice_choices()
    first.pay_bill([choices["INV-10244"], choices["INV-10252"]])
    page = first.get("/invoices")
    [resume] = re.findall(r'href="([^"]+)">Continue the payment you started', page.text)
    assert resume.startswith("/pay/resume/")
    onward = first.get(resume, allow_redirects=False)
    assert "/sandbox/cayan/transportweb.aspx?transportKey=" in onward.headers["Location"]
    for path in ("/invoices", "/payments"):
        page = first.get(path)
        assert page.url.split("?")[0].endswith("/login") and "Jordan" not in page.text


def test_start_over_is_a_kiosk_thing_posted_from_the_kiosk(make_portal):
    app, server = make_portal()
    normal = Visitor(server.url)
    normal.login("M-1000")
    assert normal.session.post(server.url + "/kiosk/start-over",
                               headers={"Origin": server.url}).status_code == 404
    assert normal.get("/invoices").url.endswith("/invoices")
    app.config["KIOSK_MODE"] = True
    forged = normal.session.post(server.url + "/kiosk/start-over",
                                 headers={"Origin": "https://evil.example"})
    assert forged.status_code == 400 and normal.get("/invoices").url.endswith("/invoices")


def test_a_kiosk_without_the_customers_email_says_where_the_receipt_is(make_portal, sandbox):
    app, server = make_portal(KIOSK_MODE=True)
    with sandbox.pims.transaction() as db:
        db.execute("UPDATE customers SET email = NULL WHERE code = 'M-1000'")
    customer = Visitor(server.url)
    customer.login("M-1000")
    result = text_of(customer.follow(customer.card_page(customer.pay(["INV-10244"]),
                                                        APPROVE)).text)
    assert "please ask at the counter for a printed receipt" in result
    assert "print or save your receipt" not in result


def test_a_kiosk_cookie_is_renewed_while_the_tablet_is_used(make_portal):
    app, server = make_portal()
    add_account(app, *OWNER, "owner")
    tablet = StaffVisitor(server.url)
    tablet.sign_in_owner()
    tablet.get("/staff/kiosk")
    tablet.post_form("/staff/kiosk", {"turn": "on"})
    page = tablet.get("/login")
    assert "cpp_kiosk=" in page.headers.get("Set-Cookie", "")
    assert "Max-Age=34560000" in page.headers["Set-Cookie"]


def test_a_kiosk_forgets_a_finished_payment_soon(make_portal):
    from flask.json.tag import TaggedJSONSerializer

    from cpp.server_session import store_key
    from cpp.shared_state import get_shared_state
    app, server = make_portal(KIOSK_MODE=True, KIOSK_IDLE_SECONDS=15)
    customer = Visitor(server.url)
    customer.login("M-1000")
    result = customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))
    assert "Thank you" in result.text
    with app.app_context():  # 20 seconds later, with the page's script not running
        sid = customer.session.cookies.get("session")
        state = get_shared_state()
        data = TaggedJSONSerializer().loads(state.load_session(store_key(sid)))
        data["returned_payments"] = [[ref, at - 20] for ref, at in data["returned_payments"]]
        state.save_session(store_key(sid), TaggedJSONSerializer().dumps(data), time.time() + 60)
    again = customer.get(result.url)
    assert again.url.split("?")[0].endswith("/login") and "Jordan" not in again.text
