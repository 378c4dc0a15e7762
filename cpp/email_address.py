"""Customers' email addresses as PIMS holds them, made safe to put in a message header.

PIMS data is typed by shop staff: trailing spaces and newlines, pasted line breaks, accented
letters. An address is checked and normalised once, when it enters the ledger, with
email-validator; one that cannot be used is not stored, and the reason is recorded instead
(the payment goes ahead; staff see why no receipt went out).

Accented letters before the @ (zoë@example.com) need the SMTPUTF8 mail extension, which
Flask-Mail cannot send with, so such an address is refused here, plainly, rather than failing
at every retry. An international domain name is fine: it is sent in its ASCII (IDNA) form.
"""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

# Allowed in an address and in any text, but it starts an RFC 2047 encoded word, which the
# email package decodes when it rewrites a header, line breaks and all (CVE-2024-6923): never
# let into a header as it is (here for addresses, cpp.mailer.inert for names and subjects).
ENCODED_WORD_START = "=?"


def sendable(text: str) -> str:
    """The address as mail goes to (or from) it; EmailNotValidError says why it cannot."""
    address = validate_email(text, check_deliverability=False, allow_smtputf8=False).ascii_email
    if ENCODED_WORD_START in address:
        raise EmailNotValidError("It contains \"=?\", which mail programs read as encoded "
                                 "text.")
    return address


def normalise(raw: str | None) -> tuple[str | None, str | None]:
    """(the address to send to, None) or (None, why it cannot be used)."""
    text = (raw or "").strip()
    if not text:
        return None, "no email address on file"
    try:
        return sendable(text), None
    except EmailNotValidError as exc:
        return None, f"the email address on file can't be used ({exc})"
