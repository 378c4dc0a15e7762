"""Every staff page in Chromium at phone and desktop sizes, checked by axe-core, and the
dashboard's daily work done with the keyboard alone: the demo's owner (two-factor off in the
demo only) signs in, finds a payment and resends its receipt. Screenshots go to
artifacts/screenshots/<viewport>/ with the customer pages'."""
from __future__ import annotations

import re

import pytest

from cpp.sandbox.demo import DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD, ensure_demo_owner

from .chromium import skip_without_chromium
from .staff_visitor import code_for
from .test_browser import APPROVE, VIEWPORTS, Customer, tab_to
from .visitor import Visitor

pytestmark = skip_without_chromium()


@pytest.fixture(params=list(VIEWPORTS))
def shop_owner(request, browser, demo, axe):
    app, server = demo
    ensure_demo_owner(app)
    # A payment made the customer's way, so the dashboard has one to show.
    customer = Visitor(server.url)
    customer.login("M-1000")
    customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))
    context = browser.new_context(viewport=VIEWPORTS[request.param],
                                  is_mobile=request.param == "phone",
                                  has_touch=request.param == "phone", locale="en-US")
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name.split("[")[0] + "-"
                  + request.param).strip("-")
    yield Customer(page, server.url, request.param, name, axe), app
    context.close()


def sign_in(c: Customer) -> None:
    c.goto("/staff/")
    c.check("sign-in")
    c.page.get_by_label("Email").fill(DEMO_OWNER_EMAIL)
    c.page.get_by_label("Password").fill(DEMO_OWNER_PASSWORD)
    c.page.get_by_role("button", name="Sign in").click()
    c.page.wait_for_url("**/staff/")


def test_every_staff_page_passes_axe(shop_owner):
    c, app = shop_owner
    sign_in(c)
    c.check("home")
    assert "Last 30 days" in c.text() and "$199.00" in c.text()
    with app.app_context():
        (payment,) = app.extensions["ledger"].find()
    for path, label, words in (
            ("/staff/payments", "payments", payment.reference),
            (f"/staff/payments/{payment.reference}", "payment", "History"),
            ("/staff/payments?state=declined", "payments-none", "No payments match"),
            ("/staff/health", "health", "Connections"),
            ("/staff/activity", "activity", "signed in"),
            ("/staff/pay-links", "pay-links", "Make a link"),
            ("/staff/settings", "settings", "Email settings by location"),
            ("/staff/team", "team", DEMO_OWNER_EMAIL),
            ("/staff/kiosk", "kiosk", "Make this browser a kiosk"),
            ("/staff/account", "account", "Change your password"),
            ("/staff/two-factor/set-up", "two-factor-set-up", "Scan this code")):
        c.goto(path)
        c.check(label)
        assert words in c.text(), label
    # The chart's numbers are there for a screen reader too.
    c.goto("/staff/")
    c.page.get_by_text("Show as a table").click()
    c.check("home-table")
    # A refusal page too.
    c.goto("/staff/payments/ZZZZZZZZ")
    c.check("not-found", status=404)
    # Two-factor, turned on from Your account, then asked for at the next sign-in.
    c.goto("/staff/two-factor/set-up")
    secret = c.page.locator("code.secret").inner_text().replace(" ", "")
    c.page.get_by_label("6-digit code").fill(code_for(secret))
    c.page.get_by_role("button", name="Turn on two-factor").click()
    c.page.wait_for_url("**/staff/")
    c.page.get_by_role("button", name="Sign out").click()
    c.page.wait_for_url("**/staff/sign-in")
    c.page.get_by_label("Email").fill(DEMO_OWNER_EMAIL)
    c.page.get_by_label("Password").fill(DEMO_OWNER_PASSWORD)
    c.page.get_by_role("button", name="Sign in").click()
    c.page.wait_for_url("**/staff/two-factor")
    c.check("two-factor-code")
    c.page.get_by_label("6-digit code").fill(code_for(secret, 1))
    c.page.get_by_role("button", name="Continue").click()
    c.page.wait_for_url("**/staff/")


def test_a_receipt_resent_with_the_keyboard_only(shop_owner):
    c, app = shop_owner
    page = c.page
    c.goto("/staff/sign-in")
    tab_to(page, "#email")
    page.keyboard.type(DEMO_OWNER_EMAIL)
    tab_to(page, "#password")
    page.keyboard.type(DEMO_OWNER_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/")
    tab_to(page, 'nav a[href="/staff/payments"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/payments")
    tab_to(page, 'td a[href^="/staff/payments/"]')
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/staff/payments/[A-Z0-9]{8}$"))
    tab_to(page, "summary")
    assert page.evaluate("document.activeElement.textContent").startswith("Resend receipt")
    page.keyboard.press("Enter")
    tab_to(page, "#to")
    page.keyboard.type("bookkeeper@customer.example")
    page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    c.check("resent")
    assert "Receipt sent to bookkeeper@customer.example" in c.text()
