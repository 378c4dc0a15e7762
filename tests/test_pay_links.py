"""Pay links: the token format against its documented test vector and against anything not
made with the secret (hypothesis), and the link over real HTTP: only that customer's (or that
invoice's) open invoices, nothing else of the account, paid exactly like a logged-in Pay Bill."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpp.links.tokens import LinkRefused, PayLink, b64, make_token, read_token, signature

from .test_payments import APPROVE, DECLINE
from .visitor import Visitor, text_of

DOC = Path(__file__).resolve().parents[1] / "docs" / "pay-links.md"
VECTOR_SECRET = "test-link-secret-not-for-production"
VECTOR = PayLink("M-1000", ("INV-10244",), 1893456000, "TESTLINK")
LINK_SECRET = "fake-link-secret-for-the-tests-0123456789"


def test_the_documented_test_vector():
    token = make_token(VECTOR_SECRET, VECTOR)
    assert f"token        {token}" in DOC.read_text()
    assert read_token(VECTOR_SECRET, token, now=1.7e9) == VECTOR
    with pytest.raises(LinkRefused) as refused:
        read_token(VECTOR_SECRET, token, now=1893456000)
    assert refused.value.why == "expired"
    with pytest.raises(LinkRefused) as refused:
        read_token(VECTOR_SECRET, token, now=1.7e9, revoked=["TESTLINK"])
    assert refused.value.why == "revoked"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_text_is_a_link(text):
    with pytest.raises(LinkRefused):
        read_token(LINK_SECRET, text, now=1.7e9)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.characters(codec="ascii"))
def test_no_change_to_a_real_token_is_accepted(position, replacement):
    token = make_token(LINK_SECRET, VECTOR)
    position %= len(token)
    changed = token[:position] + replacement + token[position + 1:]
    if changed == token:
        return
    with pytest.raises(LinkRefused):
        read_token(LINK_SECRET, changed, now=1.7e9)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=64))
def test_a_token_made_with_another_secret_is_refused(other_secret):
    if other_secret == LINK_SECRET:
        return
    with pytest.raises(LinkRefused):
        read_token(LINK_SECRET, make_token(other_secret, VECTOR), now=1.7e9)


@pytest.mark.parametrize("body", [
    b'{"c":"M-1000","e":1893456000}',                              # no link id
    b'{"c":"M-1000","e":"1893456000","n":"X"}',                    # expiry as text
    b'{"c":"M-1000","e":1893456000.5,"n":"X"}',                    # not whole seconds
    b'{"c":"M 1000","e":1893456000,"n":"X"}',                      # not a customer code
    b'{"c":"M-1000","e":1893456000,"n":"X","i":"INV-1"}',          # invoices not a list
    b'{"c":"M-1000","e":1893456000,"n":"X","i":["INV-1","INV-1"]}',
    b'{"c":"M-1000","e":1893456000,"n":"X","admin":true}',         # no other keys
    b'["M-1000"]',
])
def test_a_signed_body_that_is_not_a_link_is_refused(body):
    signed = "v1." + b64(body)
    token = signed + "." + b64(signature(LINK_SECRET, signed))
    with pytest.raises(LinkRefused):
        read_token(LINK_SECRET, token, now=1.7e9)


# -- over HTTP ----------------------------------------------------------------------------------

@pytest.fixture
def link_portal(make_portal):
    return make_portal(LINK_SECRET=LINK_SECRET, SHOP_PHONE="(555) 010-7777")


def link_for(server, code: str, *invoices: str, days: float = 30, link_id: str = "L1") -> str:
    token = make_token(LINK_SECRET, PayLink(code, invoices, int(time.time() + days * 86400),
                                            link_id))
    return f"{server.url}/pay/l/{token}"


def test_a_link_for_one_invoice_shows_it_alone_and_pays_it(link_portal, sandbox, smtp):
    app, server = link_portal
    customer = Visitor(server.url)
    page = customer.get(link_for(server, "M-1000", "INV-10244"))
    assert page.url == f"{server.url}/pay/l"  # the token is out of the address at once
    assert "Hello, Jordan Rivera" in page.text and "You opened a payment link" in page.text
    boxes = re.findall(r'name="invoice"[^>]*value="([^"|]+)\|', page.text)
    assert boxes == ["INV-10244"]
    # Nothing else of the account.
    for path in ("/invoices", "/payments"):
        assert customer.get(path).url.split("?")[0].endswith("/login"), path
    # Another invoice of the same customer, sneaked into the form, is refused.
    refused = customer.post_form("/pay/l", {"invoice": ["INV-10252|34750"]})
    assert "not part of this payment link" in text_of(refused.text)
    customer.get("/pay/l")
    card_page = customer.post_form("/pay/l", {"invoice": ["INV-10244|19900"]},
                                   allow_redirects=False).headers["Location"]
    result = customer.follow(customer.card_page(card_page, APPROVE))
    text = text_of(result.text)
    assert "Thank you! Your payment was successful" in text
    assert 'href="/pay/l"' in result.text  # back to the link's invoices, not a login
    (applied,) = sandbox.pims.all_payments()
    assert applied["customer_code"] == "M-1000" and applied["amount_cents"] == 19900
    assert any("jordan.rivera@example.com" in m["rcpt_to"] for m in smtp.wait_for(1))
    # Paid: the link now has nothing to pay (not "are paid": PIMS may have voided them), which
    # says nothing of the rest of the account
    # (M-1000 has other invoices open; "Everything on account M-1000 is paid up" was false).
    again = text_of(customer.get("/pay/l").text)
    assert "There is nothing left to pay on the invoices this payment link is for." in again
    assert "paid up" not in again


def test_a_link_for_a_customer_shows_all_their_open_invoices(link_portal):
    app, server = link_portal
    page = Visitor(server.url).get(link_for(server, "M-1000"))
    assert len(set(re.findall(r'name="invoice"[^>]*value="([^"|]+)\|', page.text))) == 7


@pytest.mark.parametrize("how,status,words", [
    ("tampered", 404, "This payment link can't be used"),
    ("expired", 410, "This payment link has expired"),
    ("revoked", 404, "This payment link can't be used"),
    ("disabled", 404, "This payment link can't be used"),
    ("unknown", 404, "This payment link can't be used"),
])
def test_a_bad_link_gets_a_plain_page_with_the_shops_phone(make_portal, caplog, how, status,
                                                           words):
    app, server = make_portal(LINK_SECRET=LINK_SECRET, SHOP_PHONE="(555) 010-7777",
                              LINK_REVOKED=["GONE"])
    url = {"tampered": link_for(server, "M-1000")[:-3] + "AAA",
           "expired": link_for(server, "M-1000", days=-1),
           "revoked": link_for(server, "M-1000", link_id="GONE"),
           "disabled": link_for(server, "M-4000"),
           "unknown": link_for(server, "NOPE-1")}[how]
    visitor = Visitor(server.url)
    page = visitor.get(url)
    assert page.status_code == status and words in text_of(page.text)
    assert "(555) 010-7777" in page.text
    assert visitor.get("/pay/l").status_code == 401  # no session came of it
    assert "pay link" in caplog.text and "refused" in caplog.text


def test_links_are_off_without_a_link_secret(portal):
    app, server = portal
    token = make_token(LINK_SECRET, PayLink("M-1000", (), int(time.time()) + 60, "L1"))
    page = Visitor(server.url).get(f"/pay/l/{token}")
    assert page.status_code == 404 and "Payment links are not set up" in text_of(page.text)
    result = app.test_cli_runner().invoke(args=["cpp", "link", "M-1000"])
    assert result.exit_code == 1 and "Set LINK_SECRET first" in result.output


def test_the_customer_of_the_link_logged_in_goes_to_their_whole_account(link_portal):
    app, server = link_portal
    own = Visitor(server.url)
    own.login("M-1000")
    assert own.get(link_for(server, "M-1000")).url.endswith("/invoices")


def test_staff_make_links_on_the_command_line(link_portal):
    app, server = link_portal
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cpp", "link", "m-1000", "INV-10244", "--days", "7"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith(f"{server.url}/pay/l/v1.")
    assert "For Jordan Rivera (M-1000)" in result.stderr
    page = Visitor(server.url).get(url)
    assert re.findall(r'name="invoice"[^>]*value="([^"|]+)\|', page.text) == ["INV-10244"]
    unknown = runner.invoke(args=["cpp", "link", "NOPE-1"])
    assert unknown.exit_code == 1 and "PIMS has no customer NOPE-1" in unknown.output
    disabled = runner.invoke(args=["cpp", "link", "M-4000"])
    assert disabled.exit_code == 1 and "can't pay online" in disabled.output


def test_hostile_addresses_get_the_plain_page_not_an_error(link_portal):
    app, server = link_portal
    for path in ("/pay/l/v1.é.abc", "/pay/l/v1.%FF.AA", "/pay/l/v1", "/pay/l/" + "A" * 3000,
                 "/pay/l/v1.a.b.c", "/pay/l/v1..", "/pay/l/%00"):
        page = Visitor(server.url).get(path)
        assert page.status_code == 404 and "can't be used" in text_of(page.text), path


def test_revoking_a_link_or_changing_the_secret_ends_its_open_sessions(link_portal):
    app, server = link_portal
    customer = Visitor(server.url)
    customer.get(link_for(server, "M-1000", link_id="SOON-GONE"))
    assert customer.get("/pay/l").status_code == 200
    assert "Jordan Rivera" in text_of(customer.get("/login").text)  # named in the header
    card_page = customer.post_form("/pay/l", {"invoice": ["INV-10244|19900"]},
                                   allow_redirects=False).headers["Location"]
    declined = customer.follow(customer.card_page(card_page, DECLINE)).url
    app.config["LINK_REVOKED"] = ["SOON-GONE"]
    # Whatever page comes next, not only the link's own: no name in the header. The declined
    # payment's "Try another card" and "Back to your invoices" still lead to the link's pages,
    # which say to open it again, not to a login the link's customer may have no password for.
    result = customer.get(declined)
    assert "Jordan Rivera" not in text_of(result.text)
    assert 'action="/pay/l"' in result.text and 'href="/pay/l"' in result.text
    assert "Please open your payment link again" in text_of(
        customer.post_form("/pay/l", {"invoice": ["INV-10244|19900"]}).text)
    assert customer.get("/pay/l").status_code == 401
    app.config["LINK_REVOKED"] = []
    other = Visitor(server.url)
    other.get(link_for(server, "M-1000", link_id="OTHER"))
    assert other.get("/pay/l").status_code == 200
    app.config["LINK_SECRET"] = "a-new-fake-link-secret-for-the-tests-98765"
    assert other.get("/pay/l").status_code == 401


def test_a_link_never_logs_someone_else_out_unasked(link_portal):
    app, server = link_portal
    shared = Visitor(server.url)
    shared.login("M-1001")
    url = link_for(server, "M-1000", "INV-10244")
    asked = shared.get(url)
    assert "You are logged in as" in text_of(asked.text) and "Continue as Jordan Rivera" \
        in text_of(asked.text)
    assert shared.get("/invoices").url.endswith("/invoices")  # still logged in
    # A forged form from another site (no token) changes nothing either.
    forged = shared.session.post(url, data={}, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 400
    assert shared.get("/invoices").url.endswith("/invoices")
    shared.get(url)
    switched = shared.post_form(url.replace(server.url, ""), {})
    assert switched.url.endswith("/pay/l") and "Hello, Jordan Rivera" in switched.text
    assert shared.get("/invoices").url.split("?")[0].endswith("/login")


def test_the_token_stays_out_of_the_portals_logs(link_portal, faults, caplog):
    from cpp.sandbox.faults import Fault
    app, server = link_portal
    url = link_for(server, "M-1000")
    faults.arm(Fault("pims", "GetCustomer", mode="http500"))
    page = Visitor(server.url).get(url)
    assert page.status_code == 503
    token = url.rsplit("/", 1)[1]
    # The portal's own logs (the test server's access log is werkzeug's: see pay-links.md).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cpp"))
    assert "PIMS unavailable during GET /pay/l/…" in ours
    assert token not in ours and token[:40] not in ours


def test_a_link_session_can_be_ended_on_a_shared_device(link_portal):
    app, server = link_portal
    customer = Visitor(server.url)
    page = customer.get(link_for(server, "M-1000"))
    assert "Jordan Rivera" in page.text and "Log Out" in page.text
    customer.post_form("/logout", {})
    assert customer.get("/pay/l").status_code == 401


def test_an_account_disabled_after_its_link_was_opened_cannot_pay(link_portal, sandbox):
    app, server = link_portal
    customer = Visitor(server.url)
    customer.get(link_for(server, "M-1000", "INV-10244"))
    with sandbox.pims.transaction() as db:
        db.execute("UPDATE customers SET disabled = 1 WHERE code = 'M-1000'")
    refused = customer.post_form("/pay/l", {"invoice": ["INV-10244|19900"]},
                                 allow_redirects=False)
    assert refused.status_code == 404 and "can't be used" in text_of(refused.text)
    assert app.extensions["ledger"].find() == [] and sandbox.cayan.all_transactions() == []
    assert customer.get("/pay/l").status_code == 401
