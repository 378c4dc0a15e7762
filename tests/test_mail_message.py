"""What a receipt says about where it comes from (cpp.mailer.EncodedMessage): the shop's name
and address whatever the name holds, a Message-ID in the sender's domain, and this machine's
name asked of DNS once, not inside every send's deadline."""
from __future__ import annotations

import email
import email.header
import email.policy
import socket
import traceback
from itertools import takewhile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpp import mailer

# Each with an address short and long: the email package folds a line over 78 characters,
# and the folding is where names came apart.
NAMES = ["Reparación, S.A.", "Smith, Jones & Co", 'Joe "Fix-It" Repairs \\ Co',
         "Northside Device Repair, Main Street Location", "Northside Device Repair; Main Street",
         "Northside Device Repair: Main Street", "<script>alert(1)</script>",
         "Northside Device Repair (demo)", "Test Repair Shop", "ventas@shop.example",
         "Northside Device Repair & Electronics Recycling, Main Street Location (Springfield)"]
ADDRESSES = ["billing@shop.example", "receipts@northside-device-repair-springfield.example"]


@pytest.mark.parametrize("address", ADDRESSES)
@pytest.mark.parametrize("name", NAMES)
def test_the_shops_name_and_address_arrive_whatever_the_name_holds(app, smtp, name, address):
    """Over SMTP, as a receipt goes: the From and Reply-To a mail program shows, and the
    envelope's sender a receiving server checks. A comma in the name used to leave "From:
    Reparación"; a long line lost the quotes around the name, or put a space inside a word."""
    with app.app_context():
        mailer.send(mailer.EncodedMessage("Receipt", sender=(name, address),
                                          reply_to=(name, "desk@shop.example"),
                                          recipients=["c@customer.example"], body="paid"))
    [received] = smtp.messages()
    assert received["mail_from"] == address
    parsed = email.message_from_string(f"From: {received['sender']}\nReply-To: "
                                       f"{received['reply_to']}\n\n", policy=email.policy.default)
    [from_address], [reply_address] = parsed["From"].addresses, parsed["Reply-To"].addresses
    assert (from_address.display_name, from_address.addr_spec) == (name, address)
    assert (reply_address.display_name, reply_address.addr_spec) == (name, "desk@shop.example")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=100))
def test_any_name_staff_can_type_reads_back_as_typed(app, name):
    """Printable ASCII, any specials, up to 100 characters (the settings allow 80): one
    address, the name as typed (runs of spaces made one, "=?" written "= ?": see below), lines
    within SMTP's limits."""
    address = "receipts@northside-device-repair-springfield.example"
    with app.app_context():
        raw = mailer.EncodedMessage("Receipt", sender=(name, address), recipients=["c@x.example"],
                                    body="paid").as_bytes()
    [sender] = email.message_from_bytes(raw, policy=email.policy.default)["From"].addresses
    typed = " ".join(name.split()).replace("=?", "= ?")
    assert (sender.display_name, sender.addr_spec) == (typed, address)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_a_long_name_in_spanish_is_written_as_rfc_2047_says(app):
    """Too long for one encoded word, it is split across lines. Mail programs join adjacent
    encoded words without the space between them (RFC 2047, 6.2), as email.header does here;
    Python's newer parser (the sandbox mailbox's) shows a space at the join."""
    name = "Reparación y Servicio Técnico García, S.A. de C.V."
    with app.app_context():
        raw = mailer.EncodedMessage("Receipt", sender=(name, "billing@shop.example"),
                                    recipients=["c@x.example"], body="paid").as_bytes()
    headers = raw.split(b"\r\n\r\n")[0].decode()
    first, *rest = headers.split("\r\nFrom: ")[1].split("\r\n")
    value = first + "".join(takewhile(lambda line: line.startswith(" "), rest))
    shown = str(email.header.make_header(email.header.decode_header(value)))
    assert shown == f"{name} <billing@shop.example>"
    assert all(len(line) <= 78 for line in headers.split("\r\n"))


def test_a_line_break_in_a_name_is_a_space_not_a_failed_receipt(app, smtp):
    """The shop's name is the sender's name for a location without one: a line break in it
    made Flask-Mail refuse every receipt (BadHeaderError)."""
    with app.app_context():
        mailer.send(mailer.EncodedMessage("Receipt", sender=("Northside Repair\r\nBcc: x@evil.example",
                                                             "billing@shop.example"),
                                          recipients=["c@customer.example"], body="paid"))
    [received] = smtp.messages()
    [sender] = email.message_from_string(f"From: {received['sender']}\n\n",
                                         policy=email.policy.default)["From"].addresses
    assert sender.display_name == "Northside Repair Bcc: x@evil.example"
    assert received["rcpt_to"] == "c@customer.example"  # no Bcc: smuggled in


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


INJECTED = "=?us-ascii?q?x=0D=0AX-Injected=3A_yes=0D=0A=0D=0APay_at_evil=2Eexample?="


@pytest.mark.parametrize("where", ["sender name", "subject"])
def test_an_encoded_word_in_a_name_or_subject_is_text_not_headers(app, smtp, where):
    """The email package decodes "=?…?=" when it rewrites a header, line breaks and all
    (CVE-2024-6923): a shop name like this one wrote a header and text of its own into
    every receipt. It is written as text."""
    name, subject = "Northside", "Receipt"
    if where == "sender name":
        name = INJECTED + " Northside Device Repair, Main Street"
    else:
        subject = f"Receipt {INJECTED} for your payment to Northside Device Repair"
    with app.app_context():
        raw = mailer.EncodedMessage(subject, sender=(name, "billing@shop.example"),
                                    recipients=["c@customer.example"], body="paid").as_bytes()
        mailer.send(mailer.EncodedMessage(subject, sender=(name, "billing@shop.example"),
                                          recipients=["c@customer.example"], body="paid"))
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert "X-Injected" not in message and message.get_content().strip() == "paid"
    [sender] = message["From"].addresses
    assert sender.addr_spec == "billing@shop.example"
    assert "= ?us-ascii?q?x=0D=0AX-Injected" in (sender.display_name if where == "sender name"
                                                  else str(message["Subject"]))
    [received] = smtp.messages()
    assert received["text"].strip() == "paid" and received["rcpt_to"] == "c@customer.example"


@pytest.mark.parametrize("address", [f"{INJECTED}@shop.example", '"john"@shop.example'])
def test_a_sender_address_the_email_package_would_rewrite_is_left_as_flask_mail_writes_it(
        address):
    """Such an address is refused wherever staff or PIMS give one (cpp.email_address); one
    from the config file is not made an Address, which would decode or requote it."""
    assert mailer.as_address(f"Shop <{address}>") is None


def test_an_address_with_an_encoded_word_cannot_be_used():
    from cpp import email_address

    address, why = email_address.normalise(f"{INJECTED}@shop.example")
    assert address is None and "=?" in why


def test_a_stored_address_with_an_encoded_word_is_not_sent_to(app):
    """One stored before such addresses were refused: the receipt fails, and is recorded so."""
    with app.app_context(), pytest.raises(ValueError, match="cannot be sent to"):
        mailer.EncodedMessage("Receipt", recipients=[f"{INJECTED}@customer.example"], body="x")
