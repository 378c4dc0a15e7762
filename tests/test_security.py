"""What a public payment page is attacked with, and that each attack fails."""
from __future__ import annotations

import base64
import logging
import re
import sqlite3
from contextlib import contextmanager

import pytest
import requests

from cpp.payments import states

from .conftest import TEST_CREDENTIALS
from .test_payments import APPROVE, DECLINE, only_payment
from .visitor import Visitor, text_of


def page_text(response) -> str:
    return text_of(response.get_data(as_text=True))


# -- CSRF -----------------------------------------------------------------------------------------

@pytest.fixture
def csrf_client(make_app):
    return make_app().test_client()  # CSRF on, as in production


@pytest.mark.parametrize("path,data", [
    ("/login", {"account": "M-1000", "password": "demo"}),
    ("/logout", {}),
    ("/pay", {"invoice": "INV-10244|19900"}),
])
def test_state_changing_requests_need_a_csrf_token(csrf_client, path, data):
    response = csrf_client.post(path, data=data, with_token=False)
    assert response.status_code == 400
    assert "This page has expired" in page_text(response)


def test_a_token_from_another_session_is_refused(make_app):
    app = make_app()
    attacker, victim = app.test_client(), app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      attacker.get("/login").get_data(as_text=True)).group(1)
    response = victim.post("/login", data={"csrf_token": token, "account": "M-1000",
                                           "password": "demo"})
    assert response.status_code == 400


# -- Sessions -------------------------------------------------------------------------------------

def session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def test_session_cookie_flags_over_http(client):
    cookie = session_cookie(client.post("/login", data={"account": "M-1000", "password": "demo"}))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_when_served_over_https(make_app):
    app = make_app(PUBLIC_URL="https://pay.shop.example")
    client = app.test_client()
    response = client.post("/login", data={"account": "M-1000", "password": "demo"},
                           base_url="https://pay.shop.example")
    assert "Secure" in session_cookie(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_is_renewed_at_login(client):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.post("/login", data={"account": "M-1000", "password": "demo"})
    with client.session_transaction() as session:
        assert "planted" not in session and session["customer"]["code"] == "M-1000"


def test_idle_session_is_logged_out(logged_in):
    with logged_in.session_transaction() as session:
        session["seen_at"] -= 16 * 60
    response = logged_in.get("/invoices")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "logged out after a period of inactivity" in page_text(logged_in.get("/login"))


def test_session_has_an_absolute_lifetime(logged_in):
    with logged_in.session_transaction() as session:
        session["login_at"] -= 9 * 3600  # active all along, but logged in too long ago
    assert logged_in.get("/invoices").status_code == 302


def test_logout_clears_the_session(logged_in):
    logged_in.post("/logout")
    with logged_in.session_transaction() as session:
        assert "customer" not in session and "login_at" not in session


def test_a_cookie_copied_before_logout_is_dead_after_it(portal, visitor, sandbox):
    app, server = portal
    visitor.login("M-1000")
    copy = visitor.session.cookies.get_dict()
    token = visitor.token()
    choices = visitor.invoice_choices()
    visitor.post_form("/logout", {})
    assert visitor.get("/invoices").url.startswith(server.url + "/login")
    stolen = requests.Session()
    stolen.cookies.update(copy)
    page = stolen.get(server.url + "/invoices", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    pay = stolen.post(server.url + "/pay", data={"csrf_token": token, "invoice": choices["INV-10244"]},
                      headers={"Origin": server.url}, allow_redirects=False, timeout=10)
    # Taken as a Pay Bill whose session ended: to the login page, nothing staged.
    assert pay.status_code == 303 and "/login" in pay.headers["Location"]
    assert app.extensions["ledger"].find() == []


def test_logout_deletes_the_stored_session_rather_than_overwriting_it(portal, visitor):
    """Deleting is a durable write; a session save is not (cpp.database): a logout saved as an
    overwrite could come back from a power cut with the customer's data in it."""
    from cpp.server_session import store_key

    app, _ = portal
    visitor.login("M-1000")
    before = visitor.session.cookies.get("session")
    database = app.extensions["database"]
    assert database.fetch_one("SELECT 1 FROM web_sessions WHERE key = ?", (store_key(before),))
    page = visitor.post_form("/logout", {})
    assert "You have been logged out." in page.text  # the flash, under a new id
    assert visitor.session.cookies.get("session") != before
    assert database.fetch_one("SELECT 1 FROM web_sessions WHERE key = ?",
                              (store_key(before),)) is None


def test_a_session_that_is_nobodys_is_kept_only_as_long_as_its_form_token(portal, visitor):
    """Every visit to the login page without a cookie stores a session (its CSRF token): kept
    an hour (the token's life), not the 8 hours of a customer's, a bot fetching the login page
    fills the store eight times slower and the sweep empties it sooner."""
    import time

    from cpp.server_session import store_key

    app, _ = portal
    database = app.extensions["database"]

    def stored_for() -> float:
        key = store_key(visitor.session.cookies.get("session"))
        row = database.fetch_one("SELECT expires_at FROM web_sessions WHERE key = ?", (key,))
        return row[0] - time.time()

    visitor.get("/login")
    assert 3500 < stored_for() <= 3600
    # Every form sent renews it: the token it carries is good for an hour from now.
    key = store_key(visitor.session.cookies.get("session"))
    with database.transaction() as db:  # as if the page had been opened 59 minutes ago
        db.execute("UPDATE web_sessions SET expires_at = ? WHERE key = ?",
                   (time.time() + 60, key))
    visitor.get("/login")  # the page reloaded: a new token goes out, nothing else changes
    assert 3500 < stored_for() <= 3600
    wrong = visitor.post_form("/login", {"account": "M-1000", "password": "not it"})
    assert wrong.status_code == 400
    visitor.login("M-1000")
    assert 8 * 3600 - 100 < stored_for() <= 8 * 3600


def test_the_cookie_is_an_opaque_id_renewed_at_login(portal, visitor):
    visitor.get("/login")
    before = visitor.session.cookies.get("session")
    visitor.login("M-1000")
    after = visitor.session.cookies.get("session")
    assert before and after and before != after  # no session fixation
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", after)
    decoded = base64.urlsafe_b64decode(after + "=")
    for personal in (b"Jordan", b"M-1000", b"@example"):
        assert personal not in decoded


def test_an_idle_timeout_ends_every_copy_of_the_session(portal, visitor):
    app, server = portal
    visitor.login("M-1000")
    copy = visitor.session.cookies.get_dict()
    client = app.test_client()
    client.set_cookie("session", copy["session"])
    with client.session_transaction() as session:
        session["seen_at"] -= 16 * 60
    assert visitor.get("/invoices").url.startswith(server.url + "/login")
    assert "logged out after a period of inactivity" in text_of(visitor.last.text)
    stolen = requests.get(server.url + "/invoices", cookies=copy, allow_redirects=False, timeout=10)
    assert stolen.status_code == 302


@pytest.mark.parametrize("password", ["de\x01mo", "demo\n", "demo\t"])
def test_a_control_character_in_the_password_is_the_customers_typo(client, faults, password):
    """Even a final newline ("demo\n" once logged in: $ in a pattern matches before it)."""
    response = client.post("/login", data={"account": "M-1000", "password": password})
    assert response.status_code == 400
    assert "can't be typed in a password" in page_text(response)
    assert faults.calls[("pims", "AuthenticateCustomer")] == 0  # never PIMS's problem


@contextmanager
def ledger_locked(app):
    """Another writer holds the SQLite ledger: every write fails (after DATABASE_TIMEOUT)."""
    blocker = sqlite3.connect(app.config["DATABASE"], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def return_while_the_ledger_is_locked(app, server, card: str | None, action: str = "process"):
    """Pay INV-10244 with `card` (or cancel on the card page); the way back from Cayan finds
    the ledger unwritable. Returns the customer, the page and its words."""
    visitor = Visitor(server.url)
    visitor.login("M-1000")
    back = visitor.card_page(visitor.pay(["INV-10244"]), card, action=action)
    with ledger_locked(app):
        page = visitor.follow(back)
    return visitor, page, text_of(page.text)


def test_an_unwritable_ledger_on_the_return_tells_the_customer_they_may_be_charged(
        make_portal, sandbox, caplog):
    app, server = make_portal(DATABASE_TIMEOUT=0.3)
    _, page, text = return_while_the_ledger_is_locked(app, server, APPROVE)
    assert page.status_code == 503
    assert "Your card may have been charged" in text and "don't pay again" in text
    [payment] = app.extensions["ledger"].find()
    assert payment.reference in text
    assert "PAYMENT NEEDS ATTENTION" in caplog.text
    result = app.test_cli_runner().invoke(args=["cpp", "reconcile", "--all"])
    assert result.exit_code == 0, result.output
    assert app.extensions["ledger"].get(payment.reference).state == "posted"
    assert len(sandbox.pims.all_payments()) == 1


def test_an_unwritable_ledger_on_a_declined_return_says_nothing_was_charged(make_portal,
                                                                          sandbox):
    """Cayan confirmed the decline; only recording it failed. No "you may have been charged"
    for a card that was not, nor "don't pay again" to a customer who still owes."""
    app, server = make_portal(DATABASE_TIMEOUT=0.3)
    customer, page, text = return_while_the_ledger_is_locked(app, server, DECLINE)
    assert page.status_code == 503
    assert "Your card was not charged" in text and "may have been charged" not in text
    [payment] = app.extensions["ledger"].find()
    assert payment.reference in text and payment.state == states.STAGED
    # Trying again as the page says, before any reconcile: Pay Bill settles the staged payment
    # that holds the invoice and says so; the next press goes to a new card page.
    customer.pay(["INV-10244"])
    assert "was not completed, and nothing was charged" in text_of(customer.get("/invoices").text)
    assert "transportKey=" in customer.pay(["INV-10244"])
    assert app.extensions["ledger"].get(payment.reference).state == states.DECLINED
    assert sandbox.pims.all_payments() == []


def test_an_unrecorded_cancel_says_how_long_to_wait(make_portal, sandbox):
    """Only the browser said "cancelled", and the ledger could not record it: until the payment
    times out (PAYMENT_TIMEOUT), Pay Bill offers its card page again, so "a few minutes" would
    be wrong."""
    app, server = make_portal(DATABASE_TIMEOUT=0.3, PAYMENT_TIMEOUT=25)
    _, page, text = return_while_the_ledger_is_locked(app, server, None, action="cancel")
    assert page.status_code == 503
    assert "Your card was not charged" in text and "wait 25 minutes" in text
    [payment] = app.extensions["ledger"].find()
    assert payment.state == states.STAGED and sandbox.pims.all_payments() == []


# -- Brute force ----------------------------------------------------------------------------------

def fail_login(client, account, address="198.51.100.7", password="wrong"):
    return client.post("/login", data={"account": account, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("account", ["M-1000", "NO-SUCH-ACCOUNT"])
def test_an_account_locks_after_five_failures_with_the_same_words_either_way(client, account):
    for _ in range(5):
        assert fail_login(client, account).status_code == 400
    locked = fail_login(client, account, password="demo")  # even the right password now
    assert locked.status_code == 429
    assert "logging in is paused after several unsuccessful tries" in page_text(locked)
    assert "Jordan" not in page_text(locked)
    assert fail_login(client, "M-1001", password="demo").status_code == 303  # others unaffected


def test_one_address_trying_many_accounts_is_throttled(make_app):
    client = make_app(LOGIN_ADDRESS_LIMIT="6 per 15 minutes").test_client()
    for number in range(6):
        assert fail_login(client, f"X-{number}").status_code == 400
    assert fail_login(client, "X-99").status_code == 429
    assert fail_login(client, "M-1000", address="192.0.2.44", password="demo").status_code == 303


def test_successful_logins_do_not_count(client):
    for _ in range(8):
        assert fail_login(client, "M-1000", password="demo").status_code == 303
        client.post("/logout")


# -- Response headers -----------------------------------------------------------------------------

def test_security_headers_on_every_response(client):
    for path in ("/login", "/no-such-page", "/static/css/portal.css"):
        with client.get(path) as response:
            csp = response.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "same-origin"
            assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def test_embedding_sites_can_be_allowed(make_app):
    app = make_app(EMBED_ALLOWED_ORIGINS=["https://www.shop.example"])
    csp = app.test_client().get("/login").headers["Content-Security-Policy"]
    assert "frame-ancestors https://www.shop.example" in csp


def test_a_logo_on_the_shops_website_is_the_only_other_image_source(make_app):
    app = make_app(SHOP_LOGO="https://www.shop.example/logo.png")
    csp = app.test_client().get("/login").headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://www.shop.example;" in csp
    assert "script-src 'self';" in csp


def test_pages_behind_login_and_the_return_are_not_cached(logged_in):
    assert logged_in.get("/invoices").headers["Cache-Control"] == "no-store"
    response = logged_in.get("/pay/return?ref=ZZZZZZZZ&ValidationKey=x")
    assert response.headers["Cache-Control"] == "no-store"


def test_forwarded_headers_are_ignored_without_trusted_proxies(client):
    response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_trusted_proxy_tells_the_portal_the_customer_used_https(make_app):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https",
                                             "X-Forwarded-For": "203.0.113.9"})
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize("forwarded,seen", [("203.0.113.9:51234", "203.0.113.9"),
                                             ("[2001:db8::7]:51234", "2001:db8::7"),
                                             ("2001:db8::7", "2001:db8::7")])
def test_a_port_in_x_forwarded_for_is_not_part_of_the_address(make_app, caplog, forwarded, seen):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    client.post("/login", data={"account": "M-1000", "password": "wrong"},
                headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https"},
                base_url="https://localhost")
    assert f"login failed for account M-1000 from {seen}" in caplog.text


def test_an_untrusted_local_proxy_gets_a_clear_page_not_a_redirect_loop(make_app, caplog):
    client = make_app(FORCE_HTTPS=True, PUBLIC_URL="https://pay.shop.example").test_client()
    response = client.get("/login", headers={"X-Forwarded-Proto": "https",
                                             "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 500 and "Please call the shop" in page_text(response)
    assert "TRUSTED_PROXIES is 0" in caplog.text


def test_an_untrusted_local_proxy_does_not_make_every_customer_one_address(make_app):
    """Behind a proxy the portal was not told about, the address limit is off, so 21 failures
    through the proxy do not lock out the next customer (the account limit still holds)."""
    client = make_app(LOGIN_ADDRESS_LIMIT="3 per 15 minutes").test_client()
    via_proxy = {"X-Forwarded-For": "203.0.113.9"}
    for number in range(5):
        assert client.post("/login", data={"account": f"X-{number}", "password": "x"},
                            headers=via_proxy).status_code == 400
    assert client.post("/login", data={"account": "M-1001", "password": "demo"},
                       headers=via_proxy).status_code == 303


def test_force_https_redirects_to_public_url_whatever_the_host_header(make_app):
    client = make_app(FORCE_HTTPS=True, PUBLIC_URL="https://pay.shop.example").test_client()
    response = client.get("/invoices?x=1", headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == "https://pay.shop.example/invoices?x=1"


def test_request_bodies_over_the_limit_are_refused(client):
    response = client.post("/login", data={"account": "M-1000", "password": "x" * 70_000})
    assert response.status_code == 413 and "Traceback" not in page_text(response)


# -- Access: every route, with another customer's numbers, references and keys -------------------

def test_no_route_shows_or_pays_another_customers_things(portal, sandbox):
    app, server = portal
    owner = Visitor(server.url)
    owner.login("M-1000")
    back = owner.card_page(owner.pay(["INV-10244"]), APPROVE)
    owner.follow(back)
    reference = only_payment(portal).reference
    intruder = Visitor(server.url)
    intruder.login("M-1001")
    # The staff dashboard's routes are each tried by tests/test_staff_access.py.
    routed = {rule.rule for rule in app.url_map.iter_rules()
              if not rule.rule.startswith("/staff/")}
    assert routed == {"/", "/login", "/logout", "/invoices", "/pay", "/pay/return",
                      "/pay/resume/<reference>",
                      "/payments", "/payments/<reference>", "/payments/<reference>/receipt",
                      "/pay/l", "/pay/l/<path:token>", "/kiosk", "/kiosk/start-over",
                      "/language/<code>",
                      "/static/<path:filename>", "/shop-logo/<digest>.png"}
    assert reference not in intruder.get("/payments").text  # Your payments: only theirs
    # A pay link is tried in tests/test_pay_links.py; without one, /pay/l shows nothing.
    assert intruder.get("/pay/l").status_code == 401
    for path in (f"/payments/{reference}", f"/payments/{reference}/receipt",
                 back.replace(server.url, "")):
        response = intruder.get(path)
        assert response.status_code == 404, path
        assert "INV-10244" not in response.text and "Jordan" not in response.text
    assert "INV-10244" not in intruder.get("/invoices").text
    # Continuing another's payment (its own test: test_payments, while it is still payable).
    assert intruder.get(f"/pay/resume/{reference}", allow_redirects=False).headers[
        "Location"] == "/invoices"
    intruder.get("/invoices")
    response = intruder.pay_bill(["INV-10252|34750"])  # M-1000's invoice, with its real balance
    assert response.headers["Location"] == "/invoices"
    assert "is no longer open on your account" in text_of(intruder.get("/invoices").text)
    assert len(app.extensions["ledger"].find()) == 1


# -- Secrets --------------------------------------------------------------------------------------

def test_secrets_never_reach_logs_or_pages(portal, sandbox, caplog):
    app, server = portal
    with sandbox.pims.transaction() as db:
        sandbox.pims.add_customer(db, "M-7777", "Very-Secret-Customer-Pass-42", "Secret Tester",
                                  "secret@example.com", "MAIN")
    caplog.set_level(logging.DEBUG)
    for name in ("zeep", "zeep.transports", "urllib3", "werkzeug", "cpp"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        visitor = Visitor(server.url)
        visitor.login("M-7777", "wrong-password-also-secret")
        visitor.login("M-7777", "Very-Secret-Customer-Pass-42")
        pages = [visitor.last.text]
        visitor = Visitor(server.url)
        visitor.login("M-1000")
        back = visitor.card_page(visitor.pay(["INV-10244"]), APPROVE)
        pages.append(visitor.follow(back).text)
        pages.append(visitor.get("/no-such-page").text)
        cookie = visitor.session.cookies.get("session")
    finally:
        for name in ("zeep", "zeep.transports"):
            logging.getLogger(name).setLevel(logging.WARNING)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "login: M-7777" in logged  # the capture did work
    secrets = [TEST_CREDENTIALS["SANDBOX_CAYAN_MERCHANT_KEY"],
               TEST_CREDENTIALS["SANDBOX_PIMS_PASSWORD"], "Very-Secret-Customer-Pass-42",
               "wrong-password-also-secret", app.config["SECRET_KEY"], cookie]
    for secret in secrets:
        assert secret not in logged
        assert all(secret not in page for page in pages)


def test_error_pages_never_show_exception_text(make_app, closed_port):
    app = make_app(PIMS_URL=f"http://127.0.0.1:{closed_port}/pims")
    text = page_text(app.test_client().post("/login", data={"account": "M-1000",
                                                            "password": "demo"}))
    for leak in ("Traceback", "ConnectionError", "127.0.0.1", "Errno", "zeep"):
        assert leak not in text
