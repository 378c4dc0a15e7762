"""Login and the invoice list, with the portal talking SOAP to the sandbox PIMS over HTTP."""
from __future__ import annotations

import re

import pytest

from cpp.sandbox.faults import Fault

from .visitor import text_of


def page_text(response) -> str:
    return text_of(response.get_data(as_text=True))


def test_login_page_has_the_labelled_fields(client):
    response = client.get("/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<label[^>]*for="account"[^>]*>Account #</label>', html)
    assert re.search(r'<label[^>]*for="password"[^>]*>Password</label>', html)
    assert re.search(r'<input[^>]*type="submit"[^>]*value="Log In"', html)


def test_login_shows_the_customers_invoices(client):
    response = client.post("/login", data={"account": "M-1000", "password": "demo"})
    assert response.status_code == 303 and response.headers["Location"] == "/invoices"
    text = page_text(client.get("/invoices"))
    assert "Jordan Rivera" in text
    assert "Log Out" in text


def test_account_number_is_not_case_sensitive(client):
    response = client.post("/login", data={"account": " m-1000 ", "password": "demo"})
    assert response.status_code == 303


@pytest.mark.parametrize("account,password", [("M-1000", "wrong"), ("M-9999", "demo")])
def test_wrong_credentials_get_one_message(client, account, password):
    response = client.post("/login", data={"account": account, "password": password})
    assert response.status_code == 400
    assert "The account number or password is incorrect." in page_text(response)
    assert client.get("/invoices").status_code == 302  # still logged out


def test_disabled_account_is_told_to_call_the_shop(client):
    response = client.post("/login", data={"account": "M-4000", "password": "demo"})
    assert response.status_code == 400
    assert "can't be used to pay online" in page_text(response)


def test_empty_and_oversized_input_get_clear_messages(client):
    response = client.post("/login", data={"account": "", "password": ""})
    text = page_text(response)
    assert response.status_code == 400
    assert "Enter your account number." in text and "Enter your password." in text
    response = client.post("/login", data={"account": "M" * 500, "password": "x"})
    assert "at most 40 characters" in page_text(response)


def test_pims_down_gives_the_friendly_503(make_app, closed_port):
    app = make_app(PIMS_URL=f"http://127.0.0.1:{closed_port}/pims")
    response = app.test_client().post("/login", data={"account": "M-1000", "password": "demo"})
    assert response.status_code == 503
    text = page_text(response)
    assert "Payments are temporarily unavailable" in text and "try again later" in text
    assert "Traceback" not in text and "Connection" not in text


def test_pims_slower_than_the_timeout_gives_the_503(make_app, faults):
    app = make_app(PIMS_TIMEOUT=0.5)
    faults.arm(Fault("pims", "AuthenticateCustomer", mode="hang", seconds=2))
    response = app.test_client().post("/login", data={"account": "M-1000", "password": "demo"})
    assert response.status_code == 503


def test_pims_down_while_listing_invoices_gives_the_503(logged_in, faults):
    faults.arm(Fault("pims", "GetOpenInvoices", mode="fault"))
    response = logged_in.get("/invoices")
    assert response.status_code == 503
    assert "Payments are temporarily unavailable" in page_text(response)


def test_logout_ends_the_session(logged_in):
    response = logged_in.post("/logout")
    assert response.status_code == 303
    assert logged_in.get("/invoices").status_code == 302
    assert "You have been logged out." in page_text(logged_in.get("/login"))


def test_pay_bill_in_a_tab_left_open_after_logging_out_keeps_the_ticks(portal, visitor):
    """Log Out in one tab, Pay Bill in another (its form's token belonged to the session that
    ended): not "this page has expired", but the login page, and the ticks kept for after it."""
    visitor.login("M-1000")
    other_tab = visitor.get("/invoices")
    tick = visitor.invoice_choices()["INV-10252"]
    visitor.post_form("/logout", {})
    visitor.last = other_tab  # the other tab's page, with its token, as the browser has it
    pressed = visitor.post_form("/pay", {"invoice": [tick]}, allow_redirects=False)
    assert pressed.status_code == 303
    assert "/login" in pressed.headers["Location"]
    login_page = visitor.follow(portal[1].url + pressed.headers["Location"])
    assert "Please log in to see your invoices." in text_of(login_page.text)
    page = visitor.post_form("/login", {"account": "M-1000", "password": "demo"})
    assert "ticked again below" in text_of(page.text)
    assert re.search(r'value="INV-10252\|\d+"[^>]*checked', page.text)
    # A second Log Out from that tab: nothing to do, no error page.
    visitor.post_form("/logout", {})
    visitor.last = other_tab
    again = visitor.post_form("/logout", {}, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"].endswith("/login")


def test_a_stale_form_posted_from_another_site_still_gets_the_error(portal, visitor):
    visitor.login("M-1000")
    page = visitor.get("/invoices")
    tick = visitor.invoice_choices()["INV-10252"]
    visitor.post_form("/logout", {})
    visitor.last = page
    pressed = visitor.post_form("/pay", {"invoice": [tick]},
                                headers_extra={"Origin": "https://evil.example"},
                                allow_redirects=False)
    assert pressed.status_code == 400


def test_invoices_need_login(client):
    response = client.get("/invoices")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_invoice_list_content(logged_in):
    html = logged_in.get("/invoices").get_data(as_text=True)
    text = text_of(html)
    boxes = re.findall(r'<input type="checkbox" name="invoice" id="(pay-\d+)"[^>]*value="([^"|]+)\|', html)
    assert [number for _, number in boxes] == ["INV-10231", "INV-10244", "INV-10252", "INV-10260",
                                               "INV-10266", "INV-10271", "INV-10275"]
    for box_id, number in boxes:  # each row's label names its invoice for screen readers
        assert re.search(rf'<label for="{box_id}"[^>]*>\s*<span class="invoice__number">'
                         rf'<span class="visually-hidden">Pay invoice </span>{number}</span>', html)
    assert "INV-10190" not in text  # paid
    assert "$289.99" in text and "$39.95" in text  # balance due, not the total, when part-paid
    assert "Test Repair - Main" in text and "Test Repair - West" in text
    assert "iPhone 14 Pro screen replacement" in text
    overdue_rows = re.findall(r'<li class="invoice is-overdue" data-number="([^"]+)"', html)
    assert overdue_rows == ["INV-10231"]
    assert "Select all 7 invoices" in text and "Pay Bill" in text
    assert 'aria-live="polite"' in html


def test_the_money_comes_first(logged_in):
    """Total due, what is overdue and the next due date, above the list (M-1000's seven)."""
    html = logged_in.get("/invoices").get_data(as_text=True)
    balance = text_of(html[html.index('class="card balance"'):html.index('id="pay-form"')])
    assert "Total due $1,465.37 7 invoices" in balance
    assert "Overdue $289.99 1 invoice" in balance
    assert "Next due" in balance
    assert "Pay all overdue ($289.99)" in balance
    # "Pay all overdue" posts exactly the overdue invoices, at the balances shown.
    overdue_form = html[html.index('class="card balance"'):html.index('id="pay-overdue"')]
    assert re.findall(r'name="invoice" value="([^"]+)"', overdue_form) == ["INV-10231|28999"]


def test_pay_all_overdue_charges_what_pims_says(portal, visitor, sandbox):
    visitor.login("M-1000")
    html = visitor.last.text
    overdue_form = html[html.index('class="card balance"'):html.index('id="pay-overdue"')]
    response = visitor.pay_bill(re.findall(r'name="invoice" value="([^"]+)"', overdue_form))
    assert "transportweb.aspx" in response.headers["Location"]
    [payment] = portal[0].extensions["ledger"].find()
    assert payment.invoice_numbers == ["INV-10231"] and str(payment.amount) == "289.99"


def test_no_open_invoices_message(client):
    client.post("/login", data={"account": "M-2000", "password": "demo"})
    text = page_text(client.get("/invoices"))
    assert "You have no unpaid invoices" in text
    assert "Pay Bill" not in text and "Total due" not in text


def test_large_account_lists_all_300(client):
    client.post("/login", data={"account": "M-3000", "password": "demo"})
    html = client.get("/invoices").get_data(as_text=True)
    # Without JavaScript all 300 are there to tick; with it, the page shows them 20 at a time.
    assert len(re.findall(r'type="checkbox" name="invoice"', html)) == 300
    assert 'id="invoice-search"' in html and 'id="overdue-only"' in html
    assert "Overdue $136,677.65 270 invoices" in text_of(html)


def test_a_customer_never_sees_another_customers_invoices(client):
    client.post("/login", data={"account": "M-1001", "password": "demo"})
    text = page_text(client.get("/invoices"))
    assert "INV-20011" in text and "INV-20015" in text
    assert "INV-10231" not in text and "Jordan Rivera" not in text


@pytest.mark.parametrize("target,expected", [
    ("/invoices", "/invoices"),
    ("https://evil.example/phish", "/invoices"),
    ("//evil.example/phish", "/invoices"),
    ("/\\evil.example", "/invoices"),
])
def test_next_only_leads_inside_the_portal(client, target, expected):
    response = client.post("/login", query_string={"next": target},
                           data={"account": "M-1000", "password": "demo"})
    assert response.headers["Location"] == expected


def test_pages_are_served_files_with_no_cdn(client):
    html = client.get("/login").get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html
    for url in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url
    for path in ("/static/css/portal.css", "/static/js/invoices.js"):
        with client.get(path) as response:
            assert response.status_code == 200


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "Page not found" in page_text(response)


def test_money_and_dates_follow_the_shops_locale(make_app):
    app = make_app(LOCALE="fr_CA", CURRENCY="CAD")
    client = app.test_client()
    client.post("/login", data={"account": "M-1000", "password": "demo"})
    html = client.get("/invoices").get_data(as_text=True)
    text = text_of(html)
    assert "289,99 $" in text and "$289.99" not in text
    assert '<html lang="fr-CA">' in html and 'data-currency="CAD"' in html


def test_shop_name_and_logo_on_every_page(make_app):
    app = make_app(SHOP_NAME="Acme Phone Fix",
                   SHOP_LOGO="/static/img/demo-logo.svg")
    client = app.test_client()
    for response in (client.get("/login"), client.get("/nowhere")):
        html = response.get_data(as_text=True)
        assert "Acme Phone Fix" in html and 'src="/static/img/demo-logo.svg"' in html
        assert "| Acme Phone Fix</title>" in html


def test_a_phone_that_is_not_a_number_is_shown_but_not_linked(make_app):
    """"Ask at the counter" as the support phone made a link to "tel:", which calls nothing."""
    client = make_app(SHOP_PHONE="Ask at the counter", LOCATIONS={}).test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "Ask at the counter" in page
    assert 'href="tel:' not in page
