"""Receipts through mail servers that speak TLS, as hosted ones do: STARTTLS on port 587
(MAIL_USE_TLS) or TLS from the first byte on port 465 (MAIL_USE_SSL). The portal checks the
server's certificate either way (cpp.mailer). The other tests' mail server speaks plain SMTP,
which leaves these paths to these."""
from __future__ import annotations

import ssl

import pytest
import trustme
from aiosmtpd.controller import Controller

from cpp.payments import states
from cpp.sandbox.faults import FaultInjector
from cpp.sandbox.mailbox import MailboxHandler, MailboxStore

from .live import eventually, free_port
from .test_payments import APPROVE, only_payment
from .visitor import Visitor

# The portal's setting for each way a mail server speaks TLS.
TLS_SETTINGS = {"starttls": {"MAIL_USE_TLS": True}, "implicit": {"MAIL_USE_SSL": True}}


@pytest.fixture(params=sorted(TLS_SETTINGS))
def tls_mail(request, tmp_path):
    """A real SMTP server on loopback with a certificate for 127.0.0.1 from a throwaway
    authority: one that refuses mail until the client says STARTTLS, or one that speaks TLS
    from the first byte. Yields (store, the portal's settings for it, the authority's
    certificate file)."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    store = MailboxStore(str(tmp_path / "tls-mail.sqlite3"))
    tls = ({"tls_context": server_context, "require_starttls": True}
           if request.param == "starttls" else {"ssl_context": server_context})
    controller = Controller(MailboxHandler(store, FaultInjector()), hostname="127.0.0.1",
                            port=free_port(), **tls)
    controller.start()
    authority_file = tmp_path / "mail-authority.pem"
    authority.cert_pem.write_to_path(str(authority_file))
    yield store, {"MAIL_PORT": controller.port, **TLS_SETTINGS[request.param]}, authority_file
    controller.stop()


def pay_one_invoice(server_url: str) -> None:
    customer = Visitor(server_url)
    customer.login("M-1000")
    customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))


def test_a_receipt_goes_over_tls_to_a_server_the_portal_trusts(make_portal, sandbox, tls_mail,
                                                               monkeypatch):
    store, settings, authority_file = tls_mail
    monkeypatch.setenv("SSL_CERT_FILE", str(authority_file))  # this machine trusts the server
    app, server = make_portal(**settings)
    pay_one_invoice(server.url)
    payment = eventually(lambda: only_payment((app, server)),
                         lambda p: p.receipt_status != states.RECEIPT_SENDING)
    assert payment.receipt_status == states.RECEIPT_SENT
    (receipt,) = store.messages()
    assert "jordan.rivera@example.com" in receipt["rcpt_to"]


def test_no_receipt_goes_to_a_server_whose_certificate_is_not_trusted(make_portal, sandbox,
                                                                      tls_mail):
    """A receipt carries the customer's name and amounts, and the login the mail password:
    never to a server that cannot prove it is the shop's. Kept and retried, as for any
    failure of the mail server."""
    store, settings, _ = tls_mail
    app, server = make_portal(**settings)
    pay_one_invoice(server.url)
    payment = eventually(lambda: only_payment((app, server)),
                         lambda p: p.receipt_status != states.RECEIPT_SENDING)
    assert payment.receipt_status == states.RECEIPT_UNSENT
    assert store.messages() == []


def test_the_health_check_reaches_the_mail_server_as_receipts_do(make_app, tls_mail,
                                                                  monkeypatch):
    """`cpp check` (and the staff health page) connects as a receipt's send does: over TLS,
    checking the certificate, and says which it is when the certificate is not trusted."""
    _, settings, authority_file = tls_mail
    untrusted = make_app(**settings).test_cli_runner().invoke(args=["cpp", "check"])
    assert "FAIL Mail (SMTP)" in untrusted.output and "certificate problem" in untrusted.output
    monkeypatch.setenv("SSL_CERT_FILE", str(authority_file))
    trusted = make_app(**settings).test_cli_runner().invoke(args=["cpp", "check"])
    assert "OK   Mail (SMTP)" in trusted.output, trusted.output
