"""Every /staff route, tried by everyone who must not get in: nobody, a customer, a staff member
on an owner's page, a visitor from an address not on the allowlist, a form without its token,
and a cookie kept from before signing out. Each is refused, and nothing changes."""
from __future__ import annotations

import pytest

from .staff_visitor import CLERK, OWNER, StaffVisitor, add_account
from .visitor import Visitor, text_of

ARGUMENTS = {"reference": "ABCDEFGH", "account_id": "1", "code": "MAIN"}
OWNER_ONLY = ("staff.settings", "staff.save_settings", "staff.upload_logo", "staff.save_location",
              "staff.team", "staff.disable", "staff.enable", "staff.reset_two_factor",
              "staff.set_password", "staff.kiosk_page")


def staff_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every staff route, with made-up arguments."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("staff."):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", ARGUMENTS[name]).replace(f"<int:{name}>",
                                                                        ARGUMENTS[name])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, path))
    assert len(routes) > 20
    return routes


@pytest.fixture
def guarded(make_portal):
    app, server = make_portal()
    add_account(app, *OWNER, "owner")
    add_account(app, *CLERK, "staff")
    return app, server


def settings_unchanged(app) -> None:
    with app.app_context():
        db = app.extensions["database"]
        with db.connect() as conn:
            assert conn.execute("SELECT COUNT(*) FROM shop_settings").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM staff_accounts").fetchone()[0] == 2


def refused(response, endpoint: str, method: str) -> bool:
    if method == "POST":
        return response.status_code in (400, 403)
    if endpoint == "staff.sign_in":
        return True  # the one open page
    return response.status_code == 302 and "/staff/sign-in" in response.headers["Location"]


def test_nobody_and_a_customer_get_nothing(guarded):
    app, server = guarded
    customer = Visitor(server.url)
    customer.login("M-1000")
    customer_token = customer.token()
    for visitor, token in ((Visitor(server.url), None), (customer, customer_token)):
        for endpoint, method, path in staff_routes(app):
            if method == "GET":
                response = visitor.session.get(server.url + path, allow_redirects=False)
            else:  # a customer's own (valid, customer-session) CSRF token does not count
                response = visitor.session.post(server.url + path, allow_redirects=False,
                                                data={"csrf_token": token or "x"},
                                                headers={"Origin": server.url})
            assert refused(response, endpoint, method), (endpoint, method, response.status_code)
    settings_unchanged(app)


def test_staff_get_no_owner_page(guarded):
    app, server = guarded
    clerk = StaffVisitor(server.url)
    clerk.sign_in(*CLERK)
    token = clerk.token()
    checked = set()
    for endpoint, method, path in staff_routes(app):
        if endpoint not in OWNER_ONLY:
            continue
        checked.add(endpoint)
        response = (clerk.session.get(server.url + path, allow_redirects=False)
                    if method == "GET" else
                    clerk.session.post(server.url + path, allow_redirects=False,
                                       data={"csrf_token": token, "shop_name": "Hacked"},
                                       headers={"Origin": server.url}))
        assert response.status_code == 403, (endpoint, method, response.status_code)
    settings_unchanged(app)
    assert checked == set(OWNER_ONLY)  # every owner page still exists under its name
    assert "Manage Settings" not in clerk.get("/staff/").text
    assert "cpp_kiosk" not in clerk.session.cookies


def test_every_form_needs_the_staff_token_and_this_portals_origin(guarded):
    app, server = guarded
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    token = owner.token()
    for endpoint, method, path in staff_routes(app):
        if method != "POST":
            continue
        for data, origin in (({}, server.url), ({"csrf_token": "forged"}, server.url),
                             ({"csrf_token": token}, "https://evil.example")):
            response = owner.session.post(server.url + path, allow_redirects=False,
                                          data={**data, "shop_name": "Hacked"},
                                          headers={"Origin": origin})
            assert response.status_code == 400, (endpoint, data, origin, response.status_code)
    settings_unchanged(app)
    assert owner.get("/staff/").url.endswith("/staff/")  # still signed in: nothing signed out


def test_an_address_off_the_allowlist_gets_a_plain_403_everywhere(make_portal, caplog):
    app, server = make_portal(STAFF_ALLOWED_IPS=["127.0.0.1"])
    add_account(app, *CLERK, "staff")
    inside = StaffVisitor(server.url, source_address="127.0.0.1")
    assert inside.sign_in(*CLERK).url.endswith("/staff/")
    outside = StaffVisitor(server.url, source_address="127.0.0.9")
    for endpoint, method, path in staff_routes(app):
        response = outside.session.request(method, server.url + path, allow_redirects=False,
                                           headers={"Origin": server.url})
        assert response.status_code == 403, (endpoint, method)
        assert "shop's own network" in text_of(response.text)
    # Even with a staff member's cookie, from outside.
    outside.session.cookies.update(inside.session.cookies)
    assert outside.session.get(server.url + "/staff/payments").status_code == 403
    assert "address 127.0.0.9 is not in STAFF_ALLOWED_IPS" in caplog.text
    # The customer pages are not the dashboard's: they stay open to everyone.
    assert Visitor(server.url, source_address="127.0.0.9").get("/login").status_code == 200


def test_a_cookie_kept_from_before_signing_out_opens_nothing(guarded):
    app, server = guarded
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    token = owner.token()
    kept = dict(owner.session.cookies.items())
    owner.post_form("/staff/sign-out", {})
    replay = StaffVisitor(server.url)
    for name, value in kept.items():
        replay.session.cookies.set(name, value, path="/staff")
    for endpoint, method, path in staff_routes(app):
        response = (replay.session.get(server.url + path, allow_redirects=False)
                    if method == "GET" else
                    replay.session.post(server.url + path, allow_redirects=False,
                                        data={"csrf_token": token, "shop_name": "Hacked"},
                                        headers={"Origin": server.url}))
        assert refused(response, endpoint, method), (endpoint, method, response.status_code)
    settings_unchanged(app)
