"""The production deployment README describes, as a shop runs it: nginx terminating TLS on
loopback (docs/deploy/nginx.conf, a throwaway certificate) in front of the portal under
waitress (`python -m cpp.serve`) and under gunicorn (`gunicorn -w 2`), with CSRF on, driven by
Chromium through the whole visit and by plain HTTP clients from other addresses."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from cpp.database import Database
from cpp.payments import states
from cpp.payments.ledger import Ledger

from .chromium import skip_without_chromium
from .live import eventually, free_port
from .processes import ServerProcess, gunicorn_portal, production_env, waitress_portal
from .test_payments import APPROVE
from .tls_proxy import NGINX, Nginx
from .visitor import Visitor

pytestmark = [skip_without_chromium(),
              pytest.mark.skipif(sys.platform == "win32", reason="nginx and gunicorn: Linux"),
              pytest.mark.skipif(not os.environ.get("CI") and not Path(NGINX).exists(),
                                 reason="nginx is not installed (apt-get install nginx)")]

SERVERS = {"waitress": waitress_portal, "gunicorn": gunicorn_portal}
LINK_SECRET = "fake-link-secret-for-the-tests-0123456789"


@dataclass
class Deployment:
    nginx: Nginx
    portal: ServerProcess
    ledger: Ledger

    def visitor(self, source_address: str) -> Visitor:
        return Visitor(self.nginx.url, source_address=source_address, verify=str(self.nginx.ca))


@pytest.fixture(params=list(SERVERS))
def deployment(request, sandbox, smtp, tmp_path):
    portal_port = free_port()
    nginx = Nginx(tmp_path / "nginx", portal_port)
    database = tmp_path / "ledger.sqlite3"
    env = production_env(sandbox.url, smtp.port, database, nginx.url,
                         TRUSTED_PROXIES="1", FORCE_HTTPS="true", LINK_SECRET=LINK_SECRET)
    portal = SERVERS[request.param](env, portal_port, tmp_path / "portal.log").start()
    nginx.start()
    yield Deployment(nginx, portal, Ledger(Database(str(database))))
    nginx.stop()
    portal.stop()


def test_a_visit_through_the_tls_proxy_in_chromium(deployment, browser, sandbox, smtp):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        # Plain HTTP is sent to HTTPS before anything else happens.
        first = page.goto(deployment.nginx.http_url + "/login")
        assert page.url == deployment.nginx.url + "/login"
        assert first.headers["strict-transport-security"].startswith("max-age=")
        page.get_by_label("Account #").fill("M-1000")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log In").click()
        page.wait_for_url("**/invoices")  # the POST passed CSRF over HTTPS behind the proxy
        [cookie] = [c for c in context.cookies() if c["name"] == "session"]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page.get_by_label("Pay invoice INV-10244").check()
        page.locator("#pay-button").click()
        page.wait_for_url("**/transportweb.aspx*")
        page.get_by_label("Card Number").fill(APPROVE)
        page.get_by_label("Expiration Date").fill("12/39")
        page.get_by_label("CVV").fill("123")
        page.get_by_label("Cardholder Name").fill("Jordan Rivera")
        page.get_by_role("button", name="Process Payment").click()
        page.wait_for_url(deployment.nginx.url + "/payments/*")
        assert "Thank you! Your payment was successful" in page.inner_text("body")
    finally:
        context.close()
    [payment] = eventually(deployment.ledger.find, lambda found: found[0].receipt_status == "sent")
    assert payment.state == states.POSTED and payment.receipt_status == "sent"
    assert len(sandbox.pims.all_payments()) == 1 and len(smtp.messages()) == 1
    # The portal knew the customer came over HTTPS from 127.0.0.1, through nginx.
    actors = [event["actor"] for event in deployment.ledger.events(payment.id)]
    assert any(actor.startswith("web POST /pay from 127.0.0.1") for actor in actors), actors


def test_the_portal_sees_each_customers_own_address(deployment, sandbox):
    customer = deployment.visitor("127.0.0.9")
    assert customer.login("M-1000").status_code == 200  # redirected to the invoices page
    assert customer.last.url == deployment.nginx.url + "/invoices"
    customer.pay(["INV-10252"])
    [payment] = deployment.ledger.find()
    actors = [event["actor"] for event in deployment.ledger.events(payment.id)]
    assert actors == ["web POST /pay from 127.0.0.9"] * len(actors), actors
    # Neither server names its version.
    assert customer.last.headers["Server"] in ("nginx", "CPP")
    direct = requests.get(deployment.portal.url + "/login", allow_redirects=False, timeout=10)
    assert direct.headers["Server"] in ("CPP", "gunicorn")


def test_one_attackers_failures_never_lock_out_another_customer(deployment, sandbox):
    attacker = deployment.visitor("127.0.0.20")
    statuses = []
    for number in range(24):
        attacker.get("/login")
        # A forged X-Forwarded-For is appended to by nginx, not believed.
        statuses.append(attacker.post_form("/login", {"account": f"X-{number}", "password": "x"},
                                           headers_extra={"X-Forwarded-For": "127.0.0.21"})
                        .status_code)
    assert statuses[:20] == [400] * 20 and set(statuses[20:]) == {429}, statuses
    customer = deployment.visitor("127.0.0.21")
    response = customer.login("M-1001")
    assert response.url == deployment.nginx.url + "/invoices", response.url


def test_http_post_without_origin_or_from_another_site_is_refused(deployment):
    visitor = deployment.visitor("127.0.0.30")
    page = visitor.get("/login")
    form = {"csrf_token": visitor.token(), "account": "M-1000", "password": "demo"}
    url = deployment.nginx.url + "/login"
    for headers in ({}, {"Origin": "https://evil.example"},
                    {"Referer": "https://evil.example/pay"}):
        refused = visitor.session.post(url, data=form, headers=headers, allow_redirects=False,
                                       timeout=10)
        assert refused.status_code == 400, headers
        assert "This page has expired" in refused.text
    accepted = visitor.session.post(url, data=form, allow_redirects=False, timeout=10,
                                    headers={"Referer": page.url})  # Referer alone is enough
    assert accepted.status_code == 303


def test_the_dashboard_logo_upload_and_a_pay_link_through_the_tls_proxy(deployment, sandbox,
                                                                         smtp, tmp_path):
    import io
    import random
    import time

    from PIL import Image

    from cpp import create_app
    from cpp.links.tokens import PayLink, make_token

    from .conftest import portal_config
    from .staff_visitor import OWNER, StaffVisitor, add_account

    # The owner is made on the portal's computer, in the portal's own database.
    tools = create_app(portal_config(sandbox, smtp, tmp_path,  # the deployment's database
                                     DATABASE=str(tmp_path / "ledger.sqlite3")))
    add_account(tools, *OWNER, "owner")
    tools.extensions["database"].dispose()
    owner = StaffVisitor(deployment.nginx.url, source_address="127.0.0.1",
                         verify=str(deployment.nginx.ca))
    owner.sign_in_owner()
    # A logo of some 300 KB (noise does not compress): nginx lets it through to the portal.
    noise = random.Random(7)
    image = Image.frombytes("RGB", (320, 320), bytes(noise.randrange(256)
                                                     for _ in range(320 * 320 * 3)))
    png = io.BytesIO()
    image.save(png, "PNG")
    assert 200_000 < len(png.getvalue()) < 512 * 1024
    owner.get("/staff/settings")
    page = owner.post_form("/staff/settings/logo", {},
                           files={"logo": ("logo.png", png.getvalue(), "image/png")})
    assert "The new logo is in place" in page.text
    # A pay link: it works through the proxy and its token stays out of nginx's access log.
    token = make_token(LINK_SECRET, PayLink("M-1000", ("INV-10244",), int(time.time()) + 600,
                                            "PROXY"))
    customer = deployment.visitor("127.0.0.7")
    landed = customer.get(f"/pay/l/{token}")
    assert landed.url == deployment.nginx.url + "/pay/l" and "INV-10244" in landed.text
    deadline = time.monotonic() + 5  # nginx writes the line just after it answers
    while "GET /pay/l " not in (access_log := (deployment.nginx.dir / "access.log").read_text()) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "GET /pay/l " in access_log
    assert token not in access_log and "/pay/l/v1" not in access_log
