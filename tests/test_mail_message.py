"""What a receipt says about where it comes from (cpp.mailer.EncodedMessage): the shop's name
and address whatever the name holds, a Message-ID in the sender's domain, and this machine's
name asked of DNS once, not inside every send's deadline."""
from __future__ import annotations

import email
import email.policy
import socket
import traceback

import pytest

from cpp import mailer


@pytest.mark.parametrize("name", ["Reparación, S.A.", "Smith, Jones & Co", 'Joe "Fix-It" Repairs',
                                  "Test Repair Shop"])
def test_the_shops_name_and_address_arrive_whatever_the_name_holds(app, smtp, name):
    """Over SMTP, as a receipt goes: the From a mail program shows, and the envelope's sender
    a receiving server checks. A comma in the name used to leave "From: Reparación"."""
    with app.app_context():
        mailer.send(mailer.EncodedMessage("Receipt", sender=(name, "billing@shop.example"),
                                          reply_to=(name, "desk@shop.example"),
                                          recipients=["c@customer.example"], body="paid"))
    [received] = smtp.messages()
    assert received["mail_from"] == "billing@shop.example"
    parsed = email.message_from_string(f"From: {received['sender']}\nReply-To: "
                                       f"{received['reply_to']}\n\n", policy=email.policy.default)
    [from_address], [reply_address] = parsed["From"].addresses, parsed["Reply-To"].addresses
    assert (from_address.display_name, from_address.addr_spec) == (name, "billing@shop.example")
    assert (reply_address.display_name, reply_address.addr_spec) == (name, "desk@shop.example")


def test_a_default_sender_given_as_a_pair_is_quoted_too(make_app, smtp):
    app = make_app(MAIL_DEFAULT_SENDER=("Smith, Jones & Co", "billing@shop.example"))
    with app.app_context():
        mailer.send(mailer.EncodedMessage("Alert", recipients=["owner@shop.example"], body="x"))
    [received] = smtp.messages()
    assert received["mail_from"] == "billing@shop.example"
    assert received["sender"] == '"Smith, Jones & Co" <billing@shop.example>'


@pytest.mark.parametrize(("sender", "domain"), [
    ("billing@shop.example", "shop.example"),
    (("Shop", "ventas@reparación.example"), "reparación.example".encode("idna").decode()),
])
def test_a_message_is_named_after_its_senders_domain_not_this_machine(app, monkeypatch, sender,
                                                                       domain):
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "PIMS-01.shop.local")
    with app.app_context():
        message = mailer.EncodedMessage("Receipt", sender=sender, recipients=["a@b.example"],
                                        body="paid")
        raw = message.as_bytes().decode()
    assert message.msgId.endswith(f"@{domain}>")
    assert "PIMS-01" not in raw


def test_dns_is_asked_for_this_machines_name_once_not_on_every_send(app, smtp, monkeypatch):
    """smtplib asks for it on every connection it makes, inside the send's deadline: on a
    server whose reverse lookup takes seconds, every receipt would have been cut off."""
    asked = []

    def getfqdn(*args) -> str:
        if not any("aiosmtpd" in frame.filename for frame in traceback.extract_stack()):
            asked.append(1)  # the portal asking, not the test's mail server greeting it
        return "portal.shop.example"

    monkeypatch.setattr(socket, "getfqdn", getfqdn)
    mailer.local_name.cache_clear()
    try:
        with app.app_context():
            for n in range(3):
                message = mailer.EncodedMessage("Receipt", sender="billing@shop.example",
                                                body="paid", recipients=[f"r{n}@c.example"])
                # Building it asked too (Flask-Mail names every message after this machine
                # before ours renames it); what counts is the send, inside its deadline.
                asked.clear()
                mailer.send(message)
                assert len(asked) == (1 if n == 0 else 0)
    finally:
        mailer.local_name.cache_clear()
    assert len(smtp.messages()) == 3


@pytest.mark.parametrize(("fqdn", "ehlo"), [("portal.shop.example", "portal.shop.example"),
                                            ("PIMS-01", "[192.0.2.7]"),
                                            ("localhost", "[192.0.2.7]")])
def test_a_machine_without_a_full_name_says_ehlo_with_its_address(monkeypatch, fqdn, ehlo):
    """As smtplib does when left to itself: servers refuse a bare "EHLO PIMS-01"."""
    monkeypatch.setattr(socket, "getfqdn", lambda *a: fqdn)
    monkeypatch.setattr(socket, "gethostbyname", lambda name: "192.0.2.7")
    mailer.local_name.cache_clear()
    try:
        assert mailer.local_name() == ehlo
    finally:
        mailer.local_name.cache_clear()
