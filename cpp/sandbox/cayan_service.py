"""Sandbox Cayan: Transport CreateTransaction, Reporting lookups and Credit Void over SOAP, with the
same namespaces and element names as Cayan's own services, and a hosted card page.

Like the real services since 2019, every SOAP answer carries one random extra element and every
redirect one random extra query parameter, so the portal's tolerance of them is always exercised.
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request
from lxml import etree
from lxml.builder import ElementMaker

from ..cayan.client import WSDL_DIR
from ..cayan.models import SALE
from ..marks import N_
from ..money import from_cents
from . import cards
from .cayan_store import CayanStore
from .soap import SoapFault, dispatch, schema_from_wsdl

TRANSPORT_NS = "http://transport.merchantware.net/v4/"
REPORTING_NS = "http://schemas.merchantwarehouse.com/merchantware/40/Reports/"
CREDIT_NS = "http://schemas.merchantwarehouse.com/merchantware/v45/"
T = ElementMaker(namespace=TRANSPORT_NS, nsmap={None: TRANSPORT_NS})
R = ElementMaker(namespace=REPORTING_NS, nsmap={None: REPORTING_NS})
C = ElementMaker(namespace=CREDIT_NS, nsmap={None: CREDIT_NS})
SCHEMAS = {name: schema_from_wsdl(WSDL_DIR / f"{name}.wsdl")
           for name in ("transport", "reporting", "credit")}

bp = Blueprint("sandbox_cayan", __name__, static_folder="static",
               static_url_path="/sandbox/cayan/static")


def store() -> CayanStore:
    return current_app.extensions["sandbox_cayan"]


def random_extra(namespace: str):
    """The element Cayan adds to every response that no WSDL mentions."""
    element = etree.Element(f"{{{namespace}}}X{secrets.token_hex(4)}")
    element.text = secrets.token_hex(8)
    return element


def credentials_ok(name, site_id, key) -> bool:
    config = current_app.config
    return all(
        value is not None and hmac.compare_digest(value, config[setting])
        for value, setting in ((name, "SANDBOX_CAYAN_MERCHANT_NAME"),
                               (site_id, "SANDBOX_CAYAN_MERCHANT_SITE_ID"),
                               (key, "SANDBOX_CAYAN_MERCHANT_KEY"))
    )


def text(element, name, namespace):
    if element is None:
        return None
    value = element.findtext(f"{{{namespace}}}{name}")
    return value.strip() if value is not None else None


# -- Transport ------------------------------------------------------------------------------------

@bp.post("/sandbox/cayan/transport")
def transport_endpoint():
    return dispatch("transport", TRANSPORT_NS, SCHEMAS["transport"],
                    {"CreateTransaction": create_transaction})


def create_transaction(operation, header):
    def t(name, element=operation):
        return text(element, name, TRANSPORT_NS)

    request_element = operation.find(f"{{{TRANSPORT_NS}}}request")
    messages = []
    if not credentials_ok(t("merchantName"), t("merchantSiteId"), t("merchantKey")):
        messages.append(("Credentials", "Invalid merchant credentials."))
    try:
        amount = Decimal(t("Amount", request_element) or "")
    except InvalidOperation:
        amount = Decimal(0)
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        messages.append(("Amount", "Amount must be greater than zero, in cents."))
    order_number = t("OrderNumber", request_element) or ""
    if len(order_number) > 8 or not order_number.isalnum():
        messages.append(("OrderNumber", "OrderNumber must be 1 to 8 letters or digits."))
    redirect_location = t("RedirectLocation", request_element) or ""
    if urlsplit(redirect_location).scheme not in ("http", "https"):
        messages.append(("RedirectLocation", "RedirectLocation must be an absolute URL."))
    if len(t("Dba", request_element) or "") > 50:
        messages.append(("Dba", "Dba must be at most 50 characters."))
    if messages:
        result = T.CreateTransactionResult(
            T.TransportKey(), T.ValidationKey(),
            T.Messages(*[T.Message(T.Field(f), T.Information(i)) for f, i in messages]),
        )
    else:
        transport_key, validation_key = store().stage(
            amount, order_number, t("TransactionId", request_element), redirect_location,
            t("CustomerCode", request_element), t("Dba", request_element),
        )
        result = T.CreateTransactionResult(T.TransportKey(transport_key),
                                           T.ValidationKey(validation_key), T.Messages())
    result.append(random_extra(TRANSPORT_NS))
    return T.CreateTransactionResponse(result)


# -- Reporting ------------------------------------------------------------------------------------

@bp.post("/sandbox/cayan/reporting")
def reporting_endpoint():
    return dispatch("reporting", REPORTING_NS, SCHEMAS["reporting"], {
        "TransactionsByTransactionId": transactions_by_transaction_id,
        "TransactionsByReference": transactions_by_reference,
    })


def reporting_credentials(operation) -> None:
    if not credentials_ok(text(operation, "merchantName", REPORTING_NS),
                          text(operation, "merchantSiteId", REPORTING_NS),
                          text(operation, "merchantKey", REPORTING_NS)):
        raise SoapFault("Invalid merchant credentials.")


def transactions_by_transaction_id(operation, header):
    reporting_credentials(operation)
    rows = store().by_transaction_id(text(operation, "merchantTransactionId", REPORTING_NS) or "")
    return R.TransactionsByTransactionIdResponse(transaction_list(
        "TransactionsByTransactionIdResult", rows))


def transactions_by_reference(operation, header):
    reporting_credentials(operation)
    rows = store().by_token(text(operation, "token", REPORTING_NS) or "")
    return R.TransactionsByReferenceResponse(transaction_list("TransactionsByReferenceResult", rows))


def transaction_list(result_name: str, rows):
    result = R(result_name)
    for row in rows:
        result.append(R.TransactionReference4(
            R.Amount(f"{from_cents(row['amount_cents']):.2f}"),
            R.ApprovalStatus(row["approval_status"]),
            R.AuthorizationCode(row["authorization_code"] or ""),
            R.Cardholder(row["cardholder"] or ""),
            R.CardNumber("************" + (row["card_last4"] or "")),
            R.CardType(str(row["card_type"])),
            R.ErrorMessage(row["error_message"] or ""),
            R.InvoiceNumber(row["order_number"] or ""),
            R.MerchantTransactionId(row["merchant_transaction_id"] or ""),
            R.Token(str(row["token"])),
            R.TransactionDate(row["created_at"]),
            R.TransactionType(str(row["transaction_type"])),
            R.BatchNumber(""),
        ))
    result.append(random_extra(REPORTING_NS))
    return result


# -- Credit ---------------------------------------------------------------------------------------

@bp.post("/sandbox/cayan/credit")
def credit_endpoint():
    return dispatch("credit", CREDIT_NS, SCHEMAS["credit"], {"Void": void})


def void(operation, header):
    credentials = operation.find(f"{{{CREDIT_NS}}}Credentials")
    request_element = operation.find(f"{{{CREDIT_NS}}}Request")
    fields = ["", "", "", "", "", "", "", "", "0", "", "0", "", "", "", ""]
    if not credentials_ok(text(credentials, "MerchantName", CREDIT_NS),
                          text(credentials, "MerchantSiteId", CREDIT_NS),
                          text(credentials, "MerchantKey", CREDIT_NS)):
        fields[0], fields[13] = "FAILED;1003;Invalid credentials", "Invalid merchant credentials."
    else:
        voided = store().void(text(request_element, "Token", CREDIT_NS) or "")
        if voided is None:
            fields[0] = "DECLINED;1019;Original transaction not found or not voidable"
            fields[13] = "Original transaction not found or not voidable"
        else:
            fields[:9] = ["APPROVED", voided["token"], "VOID",
                          dt.datetime.now().strftime("%m/%d/%Y %I:%M:%S %p"),
                          f"{voided['amount']:.2f}", "", "************" + (voided["card_last4"] or ""),
                          "", str(voided["card_type"])]
    names = ("ApprovalStatus", "Token", "AuthorizationCode", "TransactionDate", "Amount",
             "RemainingCardBalance", "CardNumber", "Cardholder", "CardType", "FsaCard",
             "ReaderEntryMode", "AvsResponse", "CvResponse", "ErrorMessage", "ExtraData")
    result = C.VoidResult(*[C(name, value) for name, value in zip(names, fields, strict=True)])
    result.append(random_extra(CREDIT_NS))
    return C.VoidResponse(result)


# -- The hosted card page -------------------------------------------------------------------------

@bp.route("/sandbox/cayan/transportweb.aspx", methods=["GET", "POST"])
@bp.route("/sandbox/cayan/transportmobile.aspx", methods=["GET", "POST"])
def card_page():
    key = (request.values.get("transportKey") or "")[:64]
    transport = store().transport(key) if key else None
    if transport is None:
        return render_template("sandbox/card_page.html", transport=None,
                               message=N_("This payment link is not valid.")), 404
    if transport["used"]:
        # Like a hosted page reached again with Back: a page that says so, not an error.
        return render_template("sandbox/card_page.html", transport=None,
                               message=N_("This payment has already been processed."))
    amount = from_cents(transport["amount_cents"])
    if request.method == "GET" or request.form.get("action") not in ("process", "cancel"):
        return render_template("sandbox/card_page.html", transport=transport, amount=amount,
                               errors={}, form={}, test_cards=cards.TEST_CARDS)
    if request.form["action"] == "cancel":
        if not store().use_transport(key):
            abort(409)
        return back_to_merchant(transport, {"Status": "User_Cancelled",
                                            "TransactionID": transport["transaction_id"] or "",
                                            "ValidationKey": transport["validation_key"]})
    form = {name: (request.form.get(name) or "")[:64]
            for name in ("card_number", "expiry", "cvv", "cardholder")}
    errors = cards.check_card(form["card_number"], form["expiry"], form["cvv"],
                              form["cardholder"], dt.date.today())
    if errors:
        form["card_number"] = form["cvv"] = ""  # never echo card data back
        return render_template("sandbox/card_page.html", transport=transport, amount=amount,
                               errors=errors, form=form, test_cards=cards.TEST_CARDS), 400
    if not store().use_transport(key):
        return render_template("sandbox/card_page.html", transport=None,
                               message=N_("This payment has already been processed.")), 409
    number = form["card_number"].replace(" ", "").replace("-", "")
    outcome = cards.outcome_for(number)
    charged = from_cents(max(1, transport["amount_cents"] - outcome.amount_off_cents))
    approved = outcome.status == "APPROVED"
    auth_code = f"{secrets.randbelow(900000) + 100000}" if approved else None
    card_type = cards.card_type(number)
    token = store().record(transport, SALE, charged, outcome.status, auth_code, card_type,
                           number[-4:], form["cardholder"].strip(), outcome.error_message)
    return back_to_merchant(transport, {
        "Status": outcome.redirect_status,
        "AuthCode": auth_code or "",
        "Token": token,
        "AmountApproved": f"{charged:.2f}" if approved else "0.00",
        "TransactionID": transport["transaction_id"] or "",
        "Cardholder": form["cardholder"].strip(),
        "CardNumber": "************" + number[-4:],
        "CardType": str(card_type),
        "EntryMode": "1",
        "TransactionType": "1",
        "ExpDate": form["expiry"].replace("/", ""),
        "ValidationKey": transport["validation_key"],
    })


def back_to_merchant(transport, params: dict):
    params[f"X{secrets.token_hex(3)}"] = secrets.token_hex(6)
    location = transport["redirect_location"]
    joiner = "&" if "?" in location else "?"
    return redirect(location + joiner + urlencode(params), 302)


