"""English and Spanish: every customer-facing template string is in the catalogue and translated,
the language comes from the switch, then the browser, then DEFAULT_LANGUAGE, money and dates
follow it, and a receipt goes out in the language its payment was made in."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from cpp import i18n

from .live import eventually
from .test_payments import APPROVE
from .visitor import Visitor, text_of

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
# The shop's side and the sandbox's own mailbox stay in English (docs/staff.md).
NOT_FOR_CUSTOMERS = ("staff/", "sandbox/mailbox.html")
# Names, not words: they read the same in every language.
AS_IS = {"Cayan", "Transport Web · SANDBOX", "Cayan Transport (sandbox)", "Error", "Total", "CVV",
         "MM/YY", "(MM/YY)", "|", "·"}
SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt")


class VisibleText(HTMLParser):
    """What a person reads or hears of a page: text, and the attributes screen readers say."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skipping += 1
        attributes = dict(attrs)
        for name, value in attrs:
            shown = name in SHOWN_ATTRIBUTES or (  # a button's label, when it is an input
                name == "value" and tag == "input" and attributes.get("type") in ("submit",
                                                                                  "button"))
            if shown and value:
                self.keep(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.keep(data)

    def keep(self, text):
        words = " ".join(text.replace("§", " ").split()).strip(" |·")
        if re.search(r"[A-Za-z]{2,}", words) and words not in AS_IS:
            self.found.append(words)


def untranslated(env, source: str) -> list[str]:
    """Text outside {% trans %} and _() in a template: every Jinja tag or expression becomes a
    placeholder, so only the template's own words are left to find."""
    parts, depth, previous = [], 0, None
    for _line, kind, value in env.lex(source):
        if kind == "whitespace":
            continue
        if previous == "block_begin" and kind == "name":
            depth += value == "trans"
            depth -= value == "endtrans"
        if kind == "data" and depth == 0:
            parts.append(value)
        elif kind in ("variable_begin", "block_begin"):
            parts.append("§")
        previous = kind
    text = re.sub(r"(?s)<!--.*?-->", " ", "".join(parts))
    parser = VisibleText()
    parser.feed(text)
    return parser.found


def customer_templates() -> list[Path]:
    return [path for path in sorted(TEMPLATES.rglob("*"))
            if path.suffix in (".html", ".txt")
            and not str(path.relative_to(TEMPLATES)).startswith(NOT_FOR_CUSTOMERS)]


def test_no_customer_template_has_an_untranslated_string(app):
    assert len(customer_templates()) >= 15
    problems = {}
    for path in customer_templates():
        found = untranslated(app.jinja_env, path.read_text())
        if found:
            problems[str(path.relative_to(TEMPLATES))] = found
    assert problems == {}


def test_the_detector_finds_an_untranslated_string(app):
    assert untranslated(app.jinja_env, "<p>{{ _('Fine') }} Not fine</p>") == ["Not fine"]
    assert untranslated(app.jinja_env, '<a aria-label="Say this">{% trans %}x{% endtrans %}</a>') \
        == ["Say this"]
    assert untranslated(app.jinja_env, "<p>{% trans n=1 %}All {{ n }} fine{% endtrans %}</p>") \
        == []


def test_every_message_has_a_spanish_translation():
    with (i18n.SOURCE / "es" / "LC_MESSAGES" / "messages.po").open("rb") as po, \
            (i18n.SOURCE / "messages.pot").open("rb") as pot:
        catalogue, template = read_po(po), read_po(pot)
    ids = {message.id for message in catalogue if message.id}
    assert {message.id for message in template if message.id} <= ids
    for message in catalogue:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), message.id
        # The same placeholders in both languages: a translation cannot drop an amount.
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        assert placeholders(*strings) == placeholders(*ids), message.id


def placeholders(*texts: str) -> set[str]:
    return {name for text in texts
            for pair in re.findall(r"%\((\w+)\)s|\{(\w+)\}", text) for name in pair if name}


def test_the_language_comes_from_the_switch_then_the_browser_then_the_default(make_portal):
    app, server = make_portal()
    browser = Visitor(server.url)
    assert "Pay your bill" in browser.get("/login").text
    spanish = browser.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert "Pague su factura" in spanish.text and '<html lang="es">' in spanish.text
    # The visible switch wins over the browser, and stays.
    switched = browser.get("/language/en?next=/login",
                           headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert switched.url.endswith("/login") and "Pay your bill" in switched.text
    assert "Pay your bill" in browser.get("/login", headers={"Accept-Language": "es"}).text
    browser.get("/language/es?next=https://evil.example/")  # never leaves the portal
    assert browser.last.url.startswith(server.url)
    assert "Pague su factura" in browser.get("/login").text
    # Neither: the shop's default.
    default_es, es_server = make_portal(DEFAULT_LANGUAGE="es")
    assert "Pague su factura" in Visitor(es_server.url).get("/login").text


def test_a_whole_visit_in_spanish_with_the_receipt_in_spanish(make_portal, smtp, sandbox):
    app, server = make_portal()
    customer = Visitor(server.url)
    customer.session.headers["Accept-Language"] = "es"
    customer.login("M-1000")
    page = text_of(customer.get("/invoices").text)
    assert "Hola, Jordan Rivera" in page and "Total pendiente" in page
    assert "1.465,37 US$" in page and "199,00 US$" in page  # money follows the language
    result = customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))
    text = text_of(result.text)
    assert "¡Gracias! Su pago se realizó correctamente" in text
    assert "Recibimos 199,00 US$ y lo aplicamos a la factura INV-10244." in text
    (receipt,) = smtp.wait_for(1)
    assert receipt["subject"].replace("\xa0", " ").startswith("Su pago de 199,00 US$")
    body = receipt["text"].replace("\xa0", " ")
    assert "Gracias por su pago" in body and "PAGADO 199,00 US$" in body
    (payment,) = app.extensions["ledger"].find()
    assert payment.language == "es"


def test_a_receipt_sent_later_by_reconcile_keeps_the_customers_language(make_portal, smtp,
                                                                        sandbox, faults):
    from cpp.payments.reconcile import reconcile
    from cpp.sandbox.faults import Fault
    app, server = make_portal()
    customer = Visitor(server.url)
    customer.session.headers["Accept-Language"] = "es"
    customer.login("M-1000")
    faults.arm(Fault("smtp", "DATA", mode="fault"))  # the mail server fails at first
    customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))
    ledger = app.extensions["ledger"]
    assert eventually(lambda: ledger.find()[0].receipt_status,
                      lambda status: status != "sending") == "unsent"
    assert smtp.messages() == []
    with app.app_context():
        reconcile(force=True)
    (receipt,) = smtp.messages()
    assert "Gracias por su pago" in receipt["text"]


def test_the_sandbox_card_page_and_a_decline_in_spanish(make_portal, sandbox):
    from .test_payments import DECLINE
    app, server = make_portal()
    customer = Visitor(server.url)
    customer.session.headers["Accept-Language"] = "es"
    customer.login("M-1000")
    card_page = customer.pay(["INV-10244"])
    assert "Procesar el pago" in customer.session.get(card_page).text
    declined = text_of(customer.follow(customer.card_page(card_page, DECLINE)).text)
    # The bank's own words stay as the bank wrote them.
    assert "Su tarjeta fue rechazada: insufficient funds." in declined
    assert "Probar con otra tarjeta" in declined


def test_a_language_other_than_english_or_spanish_stops_the_start(tmp_path):
    from cpp import ConfigError, create_app

    from .test_config import PRODUCTION
    with pytest.raises(ConfigError, match="DEFAULT_LANGUAGE"):
        create_app({**PRODUCTION, "DEFAULT_LANGUAGE": "es-MX",
                    "DATABASE": str(tmp_path / "l.sqlite3")})


def test_the_compiled_catalogue_is_readable_by_every_account(app):
    mo = Path(app.instance_path) / "translations" / "es" / "LC_MESSAGES" / "messages.mo"
    assert mo.stat().st_mode & 0o444 == 0o444


def test_the_language_switch_never_carries_a_pay_links_token(make_portal):
    from .test_pay_links import LINK_SECRET, link_for
    app, server = make_portal(LINK_SECRET=LINK_SECRET)
    shared = Visitor(server.url)
    shared.login("M-1001")
    asked = shared.get(link_for(server, "M-1000"))
    assert "You are logged in as" in asked.text
    assert "/pay/l/v1" not in re.search(r'class="language-switch">(.*?)</p>', asked.text).group(1)


@pytest.mark.parametrize("path", ["/staff/sign-in"])
def test_the_staff_dashboard_stays_in_english(make_portal, path):
    app, server = make_portal()
    page = Visitor(server.url).get(path, headers={"Accept-Language": "es"})
    assert "Staff sign-in" in page.text


def test_the_catalogue_has_every_string_of_the_source(tmp_path):
    """A string added to a template or the code without `pybabel extract` and a translation
    fails here (README: Translations)."""
    import subprocess
    import sys

    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    "babel.cfg", "-k", "N_", "-k", "_l", "-k", "lazy_gettext", "--no-location",
                    "-o", str(fresh), "."], cwd=ROOT, check=True, capture_output=True,
                   timeout=120)
    with fresh.open("rb") as pot, \
            (i18n.SOURCE / "es" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        wanted = {message.id for message in read_po(pot) if message.id}
        translated = {message.id for message in read_po(po) if message.id}
    assert wanted - translated == set()


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_template_gettext_matches_jinjas_own(app, language):
    """cpp.i18n's one-call gettext gives what Jinja's new-style wrappers gave: translated,
    a %-format every time, filled-in values escaped in HTML and left alone in text."""
    from flask_babel import force_locale
    from jinja2 import Environment

    assert app.jinja_env.globals["_"] is i18n.template_gettext
    # A separate environment with Jinja's own new-style wrappers over the same catalogue (an
    # overlay of the app's would share, and so overwrite, the app's gettext).
    jinja_own = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    jinja_own.policies["ext.i18n.trimmed"] = True
    jinja_own.install_gettext_callables(
        gettext=lambda text: i18n.translations().ugettext(text),
        ngettext=lambda s, p, n: i18n.translations().ungettext(s, p, n), newstyle=True)
    source = ('{{ _("Pay Bill") }}|{{ _("100%% sure") }}|{% trans name=name %}Hello, {{ name }}'
              '{% endtrans %}|{% trans count=n %}{{ count }} invoice{% pluralize %}{{ count }}'
              ' invoices{% endtrans %}|{% trans %}Tick the invoices you want to pay, then press'
              ' <strong>Pay</strong>.{% endtrans %}|{% trans login=name %}You opened a payment'
              ' link. To see your past payments, <a href="{{ login }}">log in</a>.{% endtrans %}')
    hostile = "<script>alert(1)</script> & 50%"
    with app.test_request_context("/"), force_locale(language):
        for autoescape in (True, False):
            ours = app.jinja_env.overlay(autoescape=autoescape).from_string(source)
            theirs = jinja_own.overlay(autoescape=autoescape).from_string(source)
            for n in (1, 3):
                expected = theirs.render(name=hostile, n=n)
                assert ours.render(name=hostile, n=n) == expected
                assert ("&lt;script&gt;" in expected) is autoescape
        # A template variable may have the name of gettext's own parameters, as with Jinja's.
        named = app.jinja_env.from_string('{% trans string=name, num=2, count=1 %}{{ count }}'
                                          ' {{ string }}{{ num }}{% pluralize count %}x{% endtrans %}')
        assert named.render(name="a") == "1 a2"
        assert app.jinja_env.globals["_"] is i18n.template_gettext  # still ours
        assert app.jinja_env.globals["gettext"] is i18n.template_gettext
        assert app.jinja_env.globals["ngettext"] is i18n.template_ngettext
