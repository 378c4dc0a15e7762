"""Pay links: a signed, expiring token that names a customer (and, if it likes, some of their
invoices), so the customer can pay from an email or a text without their password.

The format is simple on purpose, so PIMS or any invoice-mailing tool can make the same links
from the shared LINK_SECRET (docs/pay-links.md has it exactly, with a test vector):

    v1.<payload>.<signature>
    payload   = base64url, no padding, of compact JSON {"c": code, "e": expiry, "i": [...], "n": id}
    signature = base64url, no padding, of HMAC-SHA256(LINK_SECRET, "v1." + payload)

Pure: no Flask, no clock of its own (the caller passes `now`).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

VERSION = "v1"
MAX_TOKEN_LENGTH = 2000
MAX_INVOICES = 50
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}\Z")  # as the login form's Account #
INVOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}\Z")
LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")
BASE64URL = re.compile(r"^[A-Za-z0-9_-]+\Z")


class LinkRefused(ValueError):
    """Why a token is not a usable link: "tampered" (or simply not one), "expired", "revoked"."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class PayLink:
    customer_code: str
    invoice_numbers: tuple[str, ...]  # empty: every open invoice of the customer
    expires_at: int  # Unix time, seconds
    link_id: str


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """Strict: only the canonical unpadded form of some bytes is accepted."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise LinkRefused("tampered")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise LinkRefused("tampered") from None
    if b64(data) != text:
        raise LinkRefused("tampered")
    return data


def signature(secret: str, signed: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), signed.encode("ascii"), hashlib.sha256).digest()


def new_link_id() -> str:
    return secrets.token_urlsafe(6)  # 8 characters


def make_token(secret: str, link: PayLink) -> str:
    check_link(link)
    body = {"c": link.customer_code, "e": link.expires_at, "n": link.link_id}
    if link.invoice_numbers:
        body["i"] = list(link.invoice_numbers)
    payload = b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    signed = f"{VERSION}.{payload}"
    return f"{signed}.{b64(signature(secret, signed))}"


def read_token(secret: str, token: str, now: float, revoked=()) -> PayLink:
    """The link a token carries, or LinkRefused. The signature is checked before anything in
    the token is believed; a link past its expiry or on the revoked list is refused."""
    if not secret:
        raise LinkRefused("tampered")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise LinkRefused("tampered")
    version, payload, sent = token.split(".")
    if version != VERSION or not BASE64URL.match(payload) or not BASE64URL.match(sent):
        raise LinkRefused("tampered")
    if not hmac.compare_digest(signature(secret, f"{version}.{payload}"), unb64(sent)):
        raise LinkRefused("tampered")
    try:
        body = json.loads(unb64(payload).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LinkRefused("tampered") from None
    link = link_from(body)
    if link.link_id in set(revoked or ()):
        raise LinkRefused("revoked")
    if now >= link.expires_at:
        raise LinkRefused("expired")
    return link


def link_from(body) -> PayLink:
    """A signed body is still checked field by field: a tool with the secret may have a bug."""
    if not isinstance(body, dict) or set(body) - {"c", "e", "i", "n"} \
            or not {"c", "e", "n"} <= set(body):
        raise LinkRefused("tampered")
    invoices = body.get("i", [])
    if not isinstance(invoices, list):
        raise LinkRefused("tampered")
    link = PayLink(customer_code=body["c"], invoice_numbers=tuple(invoices),
                   expires_at=body["e"], link_id=body["n"])
    try:
        check_link(link)
    except ValueError:
        raise LinkRefused("tampered") from None
    return link


def check_link(link: PayLink) -> None:
    if not (isinstance(link.customer_code, str) and CODE.match(link.customer_code)):
        raise ValueError(f"not a customer code: {link.customer_code!r}")
    if not (isinstance(link.expires_at, int) and not isinstance(link.expires_at, bool)
            and 0 < link.expires_at < 2**40):
        raise ValueError("the expiry must be a Unix time in seconds")
    if not (isinstance(link.link_id, str) and LINK_ID.match(link.link_id)):
        raise ValueError("the link id must be 1 to 32 letters, digits, - or _")
    for number in link.invoice_numbers:
        if not (isinstance(number, str) and INVOICE.match(number)):
            raise ValueError(f"not an invoice number: {number!r}")
    if len(link.invoice_numbers) > MAX_INVOICES or len(set(link.invoice_numbers)) != \
            len(link.invoice_numbers):
        raise ValueError(f"at most {MAX_INVOICES} different invoice numbers")
