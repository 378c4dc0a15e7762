"""`python app.py`: one command that starts the portal, in demo mode when nothing is configured."""
from __future__ import annotations

import argparse
import os

from werkzeug.serving import WSGIRequestHandler

from .. import ConfigError, create_app
from ..config import is_loopback
from .demo_data import DEMO_LOGINS, DEMO_PASSWORD


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's server, naming no versions in its Server header."""

    def version_string(self) -> str:
        return "CPP"


DEMO_OWNER_EMAIL = "owner@demo.example"
DEMO_OWNER_PASSWORD = "demo-owner-not-a-secret"


def ensure_demo_owner(app) -> str:
    """The demo's dashboard owner, made once (the demo is the only place with a known login)."""
    from ..staff import accounts

    with app.app_context():
        if accounts.get(DEMO_OWNER_EMAIL) is None:
            accounts.add(DEMO_OWNER_EMAIL, DEMO_OWNER_PASSWORD, "owner")
    return DEMO_OWNER_EMAIL


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    args = parser.parse_args(argv)
    # Comparing, not binding: a wildcard listen address is shown as the local one.
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    # In demo mode links and the sandbox card page's return address follow the chosen port.
    os.environ.setdefault("CPP_PUBLIC_URL", f"http://{shown_host}:{args.port}")
    try:
        app = create_app()
    except ConfigError as exc:
        print(f"Configuration problem: {exc}")
        return 2
    url = app.config["PUBLIC_URL"]
    if app.config["DEMO_MODE"]:
        print("\nCustomer Payment Portal - DEMO MODE (sandbox PIMS and Cayan, no real money)")
        print(f"Open {url}/ and log in with one of these accounts (password: {DEMO_PASSWORD}):")
        for code, what in DEMO_LOGINS:
            print(f"  {code:8}  {what}")
        print(f"Test cards are listed in README.md. Sent receipts: {url}/sandbox/mail")
        email = ensure_demo_owner(app)
        print(f"Shop staff dashboard: {url}/staff/ as {email} (password: {DEMO_OWNER_PASSWORD};"
              " two-factor is off in the demo only)\n")
    else:
        print(f"Customer Payment Portal on {url} (development server; see README for production)")
        if not is_loopback(args.host):
            print("Warning: the development server is not meant for the open internet.")
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False,
            request_handler=QuietRequestHandler)
    return 0
