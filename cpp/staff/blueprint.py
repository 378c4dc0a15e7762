"""The staff dashboard's blueprint: every /staff route passes cpp.staff.access.guard first."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request

from ..headers import logo_origin
from . import access
from . import session as staff_session

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.before_request(access.guard)


@bp.after_request
def finish(response):
    staff_session.save(response)
    response.headers["Cache-Control"] = "no-store"
    # Staff pages are never framed, whatever the shop allows for its customer pages, and
    # their forms post only here (the app's own headers keep a header already set).
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data:{logo_origin(current_app)}; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    return response


@bp.errorhandler(413)
def too_big(_exc):
    if request.endpoint == "staff.upload_logo":
        return access.staff_error(413, "That file is too big",
                                  "A logo must be at most 512 KB. Go back and choose a smaller "
                                  "image.")
    return access.staff_error(413, "That was too much to send", "Go back and try again.")


@bp.context_processor
def staff_template_helpers():
    from .payments_queue import attention_count

    return {"staff_csrf_token": staff_session.csrf_token, "staff": g.get("staff"),
            "state_words": STATE_WORDS, "receipt_words": RECEIPT_WORDS,
            "attention_count": attention_count if g.get("staff") else (lambda: 0)}


STATE_WORDS = {
    "new": "Starting", "staged": "On card page", "stage_failed": "Not started",
    "declined": "Declined", "cancelled": "Cancelled", "expired": "Expired",
    "replaced": "Replaced", "approved": "Charged, posting", "posted": "Paid",
    "mismatch": "Voiding", "voided": "Voided", "needs_attention": "Needs attention",
    "resolved": "Resolved by staff",
}
RECEIPT_WORDS = {"none": "Not sent yet", "sending": "Sending", "sent": "Sent",
                 "unsent": "Will retry", "failed": "Failed", "no_email": "No email on file"}
