"""Receipts through a mail server that requires STARTTLS, as most hosted ones on port 587 do:
the portal upgrades the connection and checks the server's certificate (cpp.mailer). The
other tests' mail server speaks plain SMTP, which leaves this path to these."""
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


@pytest.fixture
def starttls_mail(tmp_path):
    """A real SMTP server on loopback that refuses mail until the client says STARTTLS, with a
    certificate for 127.0.0.1 from a throwaway authority. Yields (store, port, the authority's
    certificate file)."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    store = MailboxStore(str(tmp_path / "tls-mail.sqlite3"))
    controller = Controller(MailboxHandler(store, FaultInjector()), hostname="127.0.0.1",
                            port=free_port(), tls_context=server_context, require_starttls=True)
    controller.start()
    authority_file = tmp_path / "mail-authority.pem"
    authority.cert_pem.write_to_path(str(authority_file))
    yield store, controller.port, authority_file
    controller.stop()


def pay_one_invoice(server_url: str) -> None:
    customer = Visitor(server_url)
    customer.login("M-1000")
    customer.follow(customer.card_page(customer.pay(["INV-10244"]), APPROVE))


def test_a_receipt_goes_over_starttls_to_a_server_the_portal_trusts(make_portal, sandbox,
                                                                     starttls_mail, monkeypatch):
    store, port, authority_file = starttls_mail
    monkeypatch.setenv("SSL_CERT_FILE", str(authority_file))  # this machine trusts the server
    app, server = make_portal(MAIL_PORT=port, MAIL_USE_TLS=True)
    pay_one_invoice(server.url)
    payment = eventually(lambda: only_payment((app, server)),
                         lambda p: p.receipt_status != states.RECEIPT_SENDING)
    assert payment.receipt_status == states.RECEIPT_SENT
    (receipt,) = store.messages()
    assert "jordan.rivera@example.com" in receipt["rcpt_to"]


def test_no_receipt_goes_to_a_server_whose_certificate_is_not_trusted(make_portal, sandbox,
                                                                      starttls_mail):
    """A receipt carries the customer's name and amounts, and the login the mail password:
    never to a server that cannot prove it is the shop's. Kept and retried, as for any
    failure of the mail server."""
    store, port, _ = starttls_mail
    app, server = make_portal(MAIL_PORT=port, MAIL_USE_TLS=True)
    pay_one_invoice(server.url)
    payment = eventually(lambda: only_payment((app, server)),
                         lambda p: p.receipt_status != states.RECEIPT_SENDING)
    assert payment.receipt_status == states.RECEIPT_UNSENT
    assert store.messages() == []
