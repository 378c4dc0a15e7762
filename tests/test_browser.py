"""The visit in a real browser (Debian's Chromium driven by Playwright), at a phone and a desktop
viewport: what customers do, with the mouse and with the keyboard alone, checked by axe-core.

Screenshots of every step go to artifacts/screenshots/<viewport>/ for review."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from cpp.selection import read_amount

from .chromium import skip_without_chromium

pytestmark = skip_without_chromium()

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
APPROVE, DECLINE = "4012000033330026", "4000300011112220"


class Customer:
    """One browser tab, watched: console errors, foreign requests, accessibility, screenshots."""

    def __init__(self, page, base: str, viewport: str, name: str, axe: Path):
        self.page, self.base = page, base
        self.shots = ARTIFACTS / viewport / name
        shutil.rmtree(self.shots, ignore_errors=True)
        self.shots.mkdir(parents=True)
        self.step = 0
        self.problems: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(base) else self.foreign.append(r.url))
        # axe-core is served as if from the portal, so the page's CSP allows it unchanged.
        page.route(f"{base}/__axe.js", lambda route: route.fulfill(
            path=str(axe), content_type="application/javascript"))

    def goto(self, path: str):
        self.page.goto(self.base + path)

    def check(self, label: str, status: int = 200) -> None:
        """Every page of the visit: a screenshot, no console errors, no serious axe findings.

        An error page's own status is reported by Chromium as a console error; only that one is
        expected, and only on a page that is meant to carry it.
        """
        if status != 200:
            expected = f"status of {status}"
            self.problems[:] = [p for p in self.problems if expected not in p]
        self.step += 1
        self.page.wait_for_load_state("load")
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{label}.png"), full_page=True)
        self.page.add_script_tag(url=f"{self.base}/__axe.js")
        found = self.page.evaluate("""async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' @ ' + v.nodes.map(n => n.target).join(' | '));
        }""")
        assert not found, f"{label}: {found}"
        assert not self.problems, f"{label}: console errors {self.problems}"
        assert not self.foreign, f"{label}: requests to other origins {self.foreign}"

    def text(self) -> str:
        return self.page.inner_text("body")


@pytest.fixture(params=list(VIEWPORTS))
def customer(request, browser, demo, axe):
    app, server = demo
    context = browser.new_context(viewport=VIEWPORTS[request.param],
                                  is_mobile=request.param == "phone",
                                  has_touch=request.param == "phone", locale="en-US")
    page = context.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name.split("[")[0] + "-" + "-".join(
        str(v) for k, v in request.node.callspec.params.items() if k != "customer")).strip("-")
    yield Customer(page, server.url, request.param, name, axe), app
    context.close()


def log_in(c: Customer, account: str = "M-1000") -> None:
    c.goto("/login")
    c.check("login")
    c.page.get_by_label("Account #").fill(account)
    c.page.get_by_label("Password").fill("demo")
    c.page.get_by_role("button", name="Log In").click()
    c.page.wait_for_url("**/invoices")


# The sandbox card page's field and button names, by language.
CARD_PAGE_WORDS = {
    "en": ("Card Number", "Expiration Date", "Cardholder Name", "Process Payment"),
    "es": ("Número de tarjeta", "Fecha de vencimiento", "Nombre del titular", "Procesar el pago"),
}


def pay_on_card_page(c: Customer, card: str, label: str, language: str = "en") -> None:
    number, expiry, holder, button = CARD_PAGE_WORDS[language]
    c.page.wait_for_url("**/transportweb.aspx*")
    c.check(f"card-page-{label}")
    c.page.get_by_label(number).fill(card)
    c.page.get_by_label(expiry).fill("12/39")
    c.page.get_by_label("CVV").fill("123")
    c.page.get_by_label(holder).fill("Jordan Rivera")
    c.page.get_by_role("button", name=button).click()
    c.page.wait_for_url("**/payments/*")


def log_in_in_spanish(c: Customer, account: str) -> None:
    c.goto("/login")
    c.page.get_by_label("N.º de cuenta").fill(account)
    c.page.get_by_label("Contraseña").fill("demo")
    c.page.get_by_role("button", name="Iniciar sesión").click()
    c.page.wait_for_url("**/invoices")


def open_invoices(app) -> set[str]:
    store = app.extensions["sandbox_pims"]
    return {row["number"] for row in store.open_invoices("M-1000")}


def test_pay_two_invoices(customer):
    c, app = customer
    log_in(c)
    c.check("invoices")
    page = c.page
    page.get_by_label("Pay invoice INV-10244").check()
    page.get_by_label("Pay invoice INV-10252").check()
    assert page.locator("#selected-total").inner_text() == "$546.50"  # 199.00 + 347.50
    c.check("invoices-ticked")
    page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "approve")
    c.check("success")
    text = c.text()
    assert "Thank you! Your payment was successful" in text
    assert "INV-10244" in text and "INV-10252" in text and "$546.50" in text
    assert "Visa ending in 0026" in text
    page.get_by_role("link", name="View printable receipt").click()
    c.check("printable-receipt")
    assert "Payment receipt" in c.text()
    page.get_by_role("link", name="Open the sandbox mailbox").click()
    c.check("mailbox")
    assert "Your payment of $546.50" in c.text()
    c.goto("/invoices")
    c.check("invoices-after")
    remaining = c.text()
    assert "INV-10244" not in remaining and "INV-10252" not in remaining
    assert "INV-10231" in remaining
    assert {"INV-10244", "INV-10252"}.isdisjoint(open_invoices(app))


@pytest.mark.parametrize("how", ["declined", "cancelled"])
def test_declined_or_cancelled_leaves_invoices_payable(customer, how):
    c, app = customer
    log_in(c)
    c.page.get_by_label("Pay invoice INV-10260").check()
    c.page.locator("#pay-button").click()
    c.page.wait_for_url("**/transportweb.aspx*")
    if how == "declined":
        pay_on_card_page(c, DECLINE, how)
        heading = "Your payment didn't go through"
    else:
        c.check("card-page")
        c.page.get_by_role("button", name="Cancel").click()
        c.page.wait_for_url("**/payments/*")
        heading = "Payment cancelled"
    c.check(how)
    assert heading in c.text() and "Nothing was charged" in c.text()
    c.page.get_by_role("link", name="Back to your invoices").click()
    c.check("invoices-again")
    assert "INV-10260" in open_invoices(app)
    c.page.get_by_label("Pay invoice INV-10260").check()
    c.page.locator("#pay-button").click()
    c.page.wait_for_url("**/transportweb.aspx*")  # payable again


def test_double_click_and_back_still_pay_once(customer):
    c, app = customer
    log_in(c)
    c.page.get_by_label("Pay invoice INV-10266").check()
    c.page.locator("#pay-button").dblclick()
    pay_on_card_page(c, APPROVE, "approve")
    c.check("success")
    c.page.go_back()
    c.page.wait_for_load_state("load")
    c.page.go_back()
    c.page.wait_for_load_state("load")
    c.page.reload()
    c.check("back-to-invoices")
    assert "INV-10266" not in c.text()
    ledger = app.extensions["ledger"].find()
    assert len(ledger) == 1 and ledger[0].state == "posted"
    assert len(app.extensions["sandbox_pims"].all_payments()) == 1


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_whole_visit_with_the_keyboard_only(customer):
    c, app = customer
    page = c.page
    c.goto("/login")
    tab_to(page, "#account")
    page.keyboard.type("M-1000")
    tab_to(page, "#password")
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    page.wait_for_url("**/invoices")
    c.check("invoices")
    tab_to(page, 'input[value^="INV-10271|"]')
    page.keyboard.press("Space")
    tab_to(page, 'input[value^="INV-10275|"]')
    page.keyboard.press("Space")
    assert page.locator("#selected-total").inner_text() == "$104.13"  # 64.18 + 39.95
    focus_ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus_ring != "none"  # a visible focus
    tab_to(page, "#pay-button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/transportweb.aspx*")
    c.check("card-page")
    for field, value in (("#card_number", APPROVE), ("#expiry", "12/39"), ("#cvv", "123"),
                         ("#cardholder", "Jordan Rivera")):
        tab_to(page, field)
        page.keyboard.type(value)
    tab_to(page, 'button[value="process"]')
    page.keyboard.press("Enter")
    page.wait_for_url("**/payments/*")
    c.check("success")
    assert "Thank you! Your payment was successful" in c.text() and "$104.13" in c.text()


def test_select_all_and_no_javascript(customer, browser, demo):
    c, app = customer
    log_in(c)
    c.page.get_by_label("Select all").check()
    total = c.page.locator("#selected-total").inner_text()
    assert re.fullmatch(r"\$1,465\.37", total), total  # all seven open balances
    c.check("all-selected")
    # Without JavaScript the page still lists invoices and pays them.
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(c.base + "/login")
    page.get_by_label("Account #").fill("M-1000")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log In").click()
    page.get_by_label("Pay invoice INV-10231").check()
    page.locator("#pay-button").click()
    page.wait_for_url("**/transportweb.aspx*")
    context.close()


def test_error_pages_are_friendly(customer):
    c, app = customer
    c.goto("/no-such-page")
    c.check("not-found", status=404)
    assert "Page not found" in c.text()
    log_in(c)
    c.goto("/payments/ZZZZZZZZ")
    assert "Page not found" in c.text()


def ticked_and_total(page) -> tuple[list[str], str]:
    ticked = page.eval_on_selector_all('input[name="invoice"]:checked',
                                       "boxes => boxes.map(b => b.value.split('|')[0])")
    return ticked, page.locator("#selected-total").inner_text()


@pytest.mark.parametrize("account,picked,pay_first", [
    ("M-1001", ["INV-20011"], True),               # the list shrank meanwhile
    ("M-1000", ["INV-10244", "INV-10252"], False),  # the same list
])
def test_back_never_ticks_an_invoice_nobody_chose(customer, account, picked, pay_first):
    """The browser restores form state by position when Back re-opens the invoices page; what
    is ticked, the total and what Pay Bill charges must still agree."""
    c, app = customer
    log_in(c, account)
    for number in picked:
        c.page.get_by_label(f"Pay invoice {number}").check()
    c.page.locator("#pay-button").click()
    if pay_first:
        pay_on_card_page(c, APPROVE, "approve")
        c.page.go_back()
        c.page.wait_for_load_state("load")
    else:
        c.page.wait_for_url("**/transportweb.aspx*")
    c.page.go_back()
    c.page.wait_for_url("**/invoices")
    c.page.wait_for_load_state("load")
    c.check("back-on-invoices")
    ticked, total = ticked_and_total(c.page)
    assert set(ticked) <= set(picked) - ({"INV-20011"} if pay_first else set()), ticked
    cents = c.page.eval_on_selector_all('input[name="invoice"]:checked',
                                        "boxes => boxes.reduce((s, b) => s + +b.dataset.cents, 0)")
    assert total == f"${cents / 100:,.2f}", (ticked, total)
    if ticked:  # what Pay Bill charges is what the page says
        c.page.locator("#pay-button").click()
        c.page.wait_for_url("**/transportweb.aspx*")
        assert total in c.page.inner_text("body")


def idle_past_the_timeout(app, context) -> None:
    """Make the browser's session look idle for longer than SESSION_IDLE_MINUTES, on the server
    where the portal keeps it (the cookie itself carries nothing to age)."""
    from cpp.server_session import serializer, store_key
    from cpp.shared_state import get_shared_state
    [sid] = [c["value"] for c in context.cookies() if c["name"] == "session"]
    with app.app_context():
        state = get_shared_state()
        data = serializer.loads(state.load_session(store_key(sid)))
        data["seen_at"] -= (app.config["SESSION_IDLE_MINUTES"] + 1) * 60
        state.save_session(store_key(sid), serializer.dumps(data), time.time() + 3600)


def pay_button(page):
    return page.locator("#pay-button")


def test_pay_bill_after_the_session_timed_out_keeps_the_ticks(customer):
    """It used to end on "Error 405" (the browser GETs /pay after logging in)."""
    c, app = customer
    page = c.page
    log_in(c)
    page.get_by_label("Pay invoice INV-10244").check()
    page.get_by_label("Pay invoice INV-10252").check()
    idle_past_the_timeout(app, page.context)
    pay_button(page).click()
    page.wait_for_url("**/login?next=**")
    c.check("logged-out-before-paying")
    notices = page.locator(".notice").all_inner_texts()
    assert len(notices) == 1 and "nothing was charged" in notices[0], notices  # one calm word
    page.get_by_label("Account #").fill("M-1000")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url("**/invoices")
    c.check("ticks-restored")
    ticked, total = ticked_and_total(page)
    assert sorted(ticked) == ["INV-10244", "INV-10252"] and total == "$546.50"
    assert "ticked again" in c.text()
    assert pay_button(page).inner_text() == "Pay $546.50 for 2 invoices"
    pay_button(page).click()
    page.wait_for_url("**/transportweb.aspx*")
    assert "$546.50" in page.inner_text("body")


def test_back_on_the_card_page_and_choosing_again_replaces_the_payment(customer):
    c, app = customer
    page = c.page
    log_in(c)
    page.get_by_label("Pay invoice INV-10244").check()
    page.get_by_label("Pay invoice INV-10252").check()
    pay_button(page).click()
    page.wait_for_url("**/transportweb.aspx*")
    page.go_back()
    page.wait_for_url("**/invoices")
    page.get_by_label("Pay invoice INV-10244").check()
    page.get_by_label("Pay invoice INV-10252").check()
    page.get_by_label("Pay invoice INV-10260").check()  # changed their mind: one more
    assert pay_button(page).inner_text() == "Pay $645.50 for 3 invoices"
    pay_button(page).click()
    pay_on_card_page(c, APPROVE, "approve")  # no "already part of a payment you started"
    c.check("success")
    assert "Thank you! Your payment was successful" in c.text() and "$645.50" in c.text()
    states_now = sorted(p.state for p in app.extensions["ledger"].find())
    assert states_now == ["posted", "replaced"]
    assert len(app.extensions["sandbox_pims"].all_payments()) == 1


def test_charged_after_the_session_timed_out_still_sees_the_outcome(customer):
    c, app = customer
    page = c.page
    log_in(c)
    page.get_by_label("Pay invoice INV-10271").check()
    pay_button(page).click()
    page.wait_for_url("**/transportweb.aspx*")
    idle_past_the_timeout(app, page.context)  # the customer went to find their card
    pay_on_card_page(c, APPROVE, "approve")
    c.check("outcome-without-login")
    text = c.text()
    assert "Thank you! Your payment was successful" in text and "$64.18" in text
    assert "logged out" not in text and "Please log in" not in text
    page.get_by_role("link", name="View printable receipt").click()
    c.check("receipt-without-login")
    page.get_by_role("link", name="Log in to see your invoices").click()
    page.wait_for_url("**/login")


def test_the_money_first_and_pay_bill_names_the_amount(customer):
    c, app = customer
    page = c.page
    log_in(c)
    c.check("balance")
    viewport = page.viewport_size
    for figure in ("#total-due", "#overdue-due", "#next-due", "#pay-overdue"):
        box = page.locator(figure).bounding_box()
        assert box["y"] + box["height"] <= viewport["height"], figure  # on the first screen
    assert page.locator("#total-due").inner_text() == "$1,465.37"
    assert page.locator("#overdue-due").inner_text() == "$289.99"
    # Nothing ticked: Pay Bill says so and goes nowhere (the server refuses it too).
    assert pay_button(page).get_attribute("aria-disabled") == "true"
    pay_button(page).click(force=True)
    assert page.locator("#pay-hint").is_visible() and page.url.endswith("/invoices")
    # The whole row is the tap target, and the box is at least 24 px.
    row = page.locator("li.invoice", has_text="INV-10252")
    row.locator(".invoice__details").click()
    assert row.locator("input").is_checked()
    size = row.locator("input").bounding_box()
    assert size["width"] >= 24 and size["height"] >= 24
    page.get_by_label("Pay invoice INV-10244").check()
    assert pay_button(page).inner_text() == "Pay $546.50 for 2 invoices"
    assert pay_button(page).get_attribute("aria-disabled") == "false"
    c.check("two-ticked")
    # Reload: whatever the browser restores, the ticks, the total and the button agree.
    page.reload()
    page.wait_for_load_state("load")
    ticked, total = ticked_and_total(page)
    cents = page.eval_on_selector_all('#pay-form input[name="invoice"]:checked',
                                      "boxes => boxes.reduce((s, b) => s + +b.dataset.cents, 0)")
    assert total == f"${cents / 100:,.2f}"
    expected = f"Pay {total} for {len(ticked)} invoice{'s' if len(ticked) != 1 else ''}"
    assert pay_button(page).inner_text() == (expected if ticked else "Pay Bill")
    page.get_by_label("Pay invoice INV-10244").check()
    # "Pay all overdue" pays exactly the overdue invoice, whatever else is ticked.
    page.locator("#pay-overdue").click()
    page.wait_for_url("**/transportweb.aspx*")
    assert "$289.99" in page.inner_text("body")


def test_a_long_list_searches_filters_sorts_and_keeps_a_correct_total(customer):
    c, app = customer
    page = c.page
    log_in(c, "M-3000")
    c.check("long-list")
    rows = page.locator("li.invoice:visible")
    assert rows.count() == 20
    assert page.locator("#list-status").inner_text() == "Showing 20 of 300 invoices."
    first = rows.first.get_attribute("data-number")
    page.get_by_label(f"Pay invoice {first}").check()
    page.get_by_role("button", name="Show 20 more").click()
    assert rows.count() == 40
    # The 40th (now visible) takes the focus further down: no need to scroll back up.
    page.locator("#invoice-sort").select_option("amount-desc")
    amounts = [int(r.locator("input").get_attribute("data-cents")) for r in rows.all()]
    assert amounts == sorted(amounts, reverse=True) and len(amounts) == 20
    biggest = rows.first.get_attribute("data-number")
    page.get_by_label(f"Pay invoice {biggest}").check()
    page.get_by_label("Search").fill("INV-40005")
    # A phone keyboard's Search key (Enter) filters, and never submits Pay Bill.
    page.get_by_label("Search").press("Enter")
    page.wait_for_timeout(300)
    assert page.url.endswith("/invoices")
    assert [r.get_attribute("data-number") for r in rows.all()] == ["INV-40005"]
    status = page.locator("#list-status").inner_text()
    assert "2 ticked invoices not shown are still in the total" in status, status
    page.get_by_label("Search").fill("")
    page.get_by_label("Overdue only").check()
    assert page.locator("#list-status").inner_text().startswith("Showing 20 of 270 invoices")
    page.get_by_label("Location").select_option("WEST")
    assert all(r.get_attribute("data-location") == "WEST" for r in rows.all())
    c.check("filtered")
    # What Pay Bill charges is what the page says, across pages and filters.
    cents = sum(int(page.locator(f'li[data-number="{n}"] input').get_attribute("data-cents"))
                for n in (first, biggest))
    total = page.locator("#selected-total").inner_text()
    assert total == f"${cents / 100:,.2f}"
    pay_button(page).click()
    page.wait_for_url("**/transportweb.aspx*")
    assert total.replace(",", "") in page.inner_text("body")  # the card page writes $1000.71


def test_keyboard_focus_never_hides_behind_the_pay_bar(customer):
    c, app = customer
    page = c.page
    log_in(c, "M-3000")
    page.get_by_label("Pay invoice INV-40000").check()
    # Pay Bill without tabbing through every invoice.
    page.locator("#main").focus()  # from the top of the page's content
    tab_to(page, ".skip-to-pay", limit=4)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "pay-button"
    # Every invoice box reached with Tab stays clear of the sticky bar (WCAG 2.4.11).
    page.get_by_label("Search").focus()
    for _ in range(24):
        page.keyboard.press("Tab")
        overlap = page.evaluate("""() => {
            const bar = document.getElementById('pay-bar').getBoundingClientRect();
            const el = document.activeElement;
            if (bar.top === 0 || el.closest('#pay-bar')) return 0;
            return el.getBoundingClientRect().bottom - bar.top;
        }""")
        assert overlap <= 0, overlap


def test_try_another_card_after_a_decline(customer):
    c, app = customer
    page = c.page
    log_in(c)
    page.get_by_label("Pay invoice INV-10260").check()
    pay_button(page).click()
    pay_on_card_page(c, DECLINE, "decline")
    c.check("declined")
    assert "$99.00" in c.text()
    page.get_by_role("button", name="Try another card").click()
    pay_on_card_page(c, APPROVE, "approve")
    assert "Thank you! Your payment was successful" in c.text()


def test_receipt_prints_with_the_shop_and_a_paid_mark(customer):
    c, app = customer
    page = c.page
    log_in(c)
    page.get_by_label("Pay invoice INV-10275").check()
    pay_button(page).click()
    pay_on_card_page(c, APPROVE, "approve")
    page.get_by_role("link", name="View printable receipt").click()
    c.check("receipt")
    text = c.text()
    for shop_detail in ("Northside Device Repair", "120 Main Street", "(217) 555-0142", "PAID"):
        assert shop_detail in text, shop_detail
    assert page.get_by_role("button", name="Print receipt").is_visible()
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Print receipt").is_visible()
    assert not page.get_by_text("To keep a copy").is_visible()  # the instruction does not print
    assert page.get_by_text("PAID", exact=True).is_visible()


def test_every_call_the_shop_shows_the_number(customer):
    c, app = customer
    page = c.page
    c.goto("/login")
    assert "(217) 555-0142" in c.text()
    c.goto("/no-such-page")
    c.check("not-found-with-number", status=404)
    assert page.get_by_role("link", name="(217) 555-0142").first.get_attribute("href") == "tel:2175550142"


def test_your_payments_after_paying(customer):
    c, app = customer
    log_in(c)
    c.page.get_by_label("Pay invoice INV-10244").check()
    c.page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "approve")
    c.page.get_by_role("link", name="Your payments").click()
    c.page.wait_for_url("**/payments")
    c.check("your-payments")
    assert "Paid" in c.text() and "$199.00" in c.text()
    c.page.get_by_role("link", name=re.compile("Printable receipt")).click()
    c.page.wait_for_url("**/receipt")
    assert "PAID" in c.text()


def test_a_pay_link_on_a_phone(customer):
    import time as clock

    from cpp.links.tokens import PayLink, make_token
    c, app = customer
    token = make_token(app.config["LINK_SECRET"],
                       PayLink("M-1000", ("INV-10244", "INV-10252"), int(clock.time()) + 3600,
                               "BROWSER"))
    c.goto(f"/pay/l/{token}")
    c.page.wait_for_url("**/pay/l")
    c.check("pay-link")
    assert "You opened a payment link for these invoices" in c.text()
    c.page.get_by_label("Pay invoice INV-10244").check()
    c.page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "approve")
    c.check("pay-link-paid")
    assert "Thank you! Your payment was successful" in c.text()
    c.page.get_by_role("link", name="Back to your invoices").click()
    c.page.wait_for_url("**/pay/l")
    assert "INV-10244" not in c.text() and "INV-10252" in c.text()


def test_paying_part_of_an_invoice(customer):
    c, app = customer
    app.config["ALLOW_PARTIAL_PAYMENTS"] = True  # read on every page: as a shop that turns it on
    log_in(c)
    c.check("invoices-partial")
    assert not c.page.get_by_label("Amount to pay on INV-10244").is_visible()
    c.page.get_by_label("Pay invoice INV-10244").check()  # its amount appears, to change
    c.page.get_by_label("Amount to pay on INV-10244").fill("50")
    assert c.page.locator("#selected-total").inner_text() == "$50.00"
    assert c.page.locator("#pay-button").inner_text() == "Pay $50.00 for 1 invoice"
    c.page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "approve")
    c.check("paid-part")
    assert "$149.00 is still to pay" in c.text()


def test_amounts_typed_in_spanish_are_read_as_the_server_reads_them(browser, demo, axe):
    """A Spanish page writes money with a decimal comma, and a phone's keypad has the point of
    its region, not of the page. The running total reads what is typed by the server's own
    rules (cpp.selection.read_amount), flags what it cannot read and never reads it as
    something else; an amount typed with a comma is then charged to the cent."""
    app, server = demo
    app.config["ALLOW_PARTIAL_PAYMENTS"] = True
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True,
                                  locale="es-ES")
    c = Customer(context.new_page(), server.url, "phone", "amounts-in-spanish", axe)
    log_in_in_spanish(c, "M-1000")
    assert "por ejemplo 50,00" in c.text()
    c.page.get_by_label("Pagar la factura INV-10244").check()
    field = c.page.get_by_label("Importe a pagar de INV-10244")
    assert field.input_value() == "199,00"
    group = c.page.locator("#pay-form").get_attribute("data-group")
    assert group == "."
    money = "cents => new Intl.NumberFormat('es', {style: 'currency', currency: 'USD', " \
            "useGrouping: 'always'}).format(cents / 100)"
    for typed in ("50,5", "50.5", "50,", ",5", "1.234,56", "1.250", "1,250", "1,234.56",
                  "0,001", "50,555", "1.234.5", "$ 12,30", "\u00a07,5\u3000", "\x857,5",
                  "cincuenta"):
        field.fill(typed)
        cents = read_amount(typed, group)
        unreadable = field.get_attribute("aria-invalid") == "true"
        total = c.page.locator("#selected-total").inner_text()
        assert (unreadable, total) == (cents is None, c.page.evaluate(money, cents or 19900)), \
            typed
    field.fill("50,5")
    c.check("invoices-partial-es")
    c.page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "es", "es")
    (sale,) = app.extensions["sandbox_cayan"].all_transactions()
    assert sale["amount_cents"] == 5050
    assert "148,50\xa0US$" in c.text()  # still to pay
    context.close()


def test_two_customers_one_after_the_other_at_the_counter_kiosk(customer):
    c, app = customer
    app.config["KIOSK_MODE"] = True
    page = c.page
    page.clock.install()
    log_in(c)
    c.check("kiosk-invoices")
    assert "Starting over in 90 s" in c.text()
    page.get_by_label("Pay invoice INV-10244").check()
    page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "approve")
    c.check("kiosk-result")
    assert "Thank you! Your payment was successful" in c.text()
    assert page.get_by_role("link", name=re.compile("printable receipt", re.I)).count() == 0
    page.get_by_role("button", name="Done").click()
    page.wait_for_url("**/login")
    # The next customer presses Back as far as it goes: nothing of Jordan's comes back.
    for _ in range(6):
        page.go_back()
        page.wait_for_load_state("load")
        text = c.text()
        assert "Jordan" not in text and "INV-10244" not in text and "$199.00" not in text, \
            page.url
    # The second customer walks away mid-login: the countdown starts over for the next one.
    c.goto("/login")
    page.get_by_label("Account #").fill("M-1001")
    with page.expect_navigation():
        page.clock.run_for("01:35")  # 95 seconds without a touch
    page.wait_for_load_state("load")
    assert page.url.endswith("/login") and page.get_by_label("Account #").input_value() == ""
    c.check("kiosk-start-again")


def test_the_biggest_amounts_fit_the_smallest_phone_in_spanish(browser, demo, axe):
    """320 pixels wide, Spanish (the longest money format: "151.505,50 US$"), the account with
    300 invoices: its totals stayed at full size and ran out of their card and off the screen."""
    app, server = demo
    context = browser.new_context(viewport={"width": 320, "height": 640}, is_mobile=True,
                                  has_touch=True, locale="es-ES")
    c = Customer(context.new_page(), server.url, "phone", "smallest-phone-es", axe)
    log_in_in_spanish(c, "M-3000")
    outside = c.page.evaluate("""() => [...document.querySelectorAll('.balance__amount')]
        .filter(a => a.getBoundingClientRect().right > a.closest('.card').getBoundingClientRect().right)
        .map(a => a.textContent)""")
    assert outside == []
    assert c.page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    c.check("invoices-320-es")
    context.close()


def test_a_payment_in_spanish(browser, demo, axe):
    """The switch in the header, the invoices page and its running total, the card page and
    the result, in Spanish, at a phone's size, checked by axe."""
    app, server = demo
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True,
                                  locale="en-US")
    c = Customer(context.new_page(), server.url, "phone", "a-payment-in-spanish", axe)
    c.goto("/login")
    c.page.get_by_role("link", name="Español").click()
    c.page.wait_for_url("**/login")
    assert c.page.evaluate("document.documentElement.lang") == "es"
    c.check("login-es")
    c.page.get_by_label("N.º de cuenta").fill("M-1000")
    c.page.get_by_label("Contraseña").fill("demo")
    c.page.get_by_role("button", name="Iniciar sesión").click()
    c.page.wait_for_url("**/invoices")
    c.page.get_by_label("Pagar la factura INV-10244").check()
    assert c.page.locator("#pay-button").inner_text() == "Pagar 199,00\xa0US$ por 1 factura"
    c.check("invoices-es")
    c.page.locator("#pay-button").click()
    pay_on_card_page(c, APPROVE, "es", "es")
    c.check("result-es")
    assert "¡Gracias! Su pago se realizó correctamente" in c.text()
    context.close()


def test_a_pay_link_opened_while_someone_else_is_logged_in(customer):
    import time as clock

    from cpp.links.tokens import PayLink, make_token
    c, app = customer
    log_in(c, "M-1001")
    token = make_token(app.config["LINK_SECRET"],
                       PayLink("M-1000", (), int(clock.time()) + 3600, "SWITCH"))
    c.goto(f"/pay/l/{token}")
    c.check("link-switch")
    assert "You are logged in as" in c.text()
    c.page.get_by_role("button", name=re.compile("Continue as")).click()
    c.page.wait_for_url("**/pay/l")
    assert "Hello, Jordan Rivera" in c.text()
