"""Manage Settings over real HTTP: what an owner changes shows at once in every portal process,
with its history; the allowlist asks before shutting its owner out; embedding follows the list;
logos are checked and cleaned; per-location email settings reach the receipts."""
from __future__ import annotations

import html
import io
import json
import re
import time

import pytest
from PIL import Image, PngImagePlugin

from cpp import create_app

from .conftest import BrowserLikeClient, portal_config
from .staff_visitor import OWNER, StaffVisitor, add_account
from .test_staff import paid
from .visitor import Visitor, text_of


@pytest.fixture
def owner_portal(make_portal):
    app, server = make_portal()
    add_account(app, *OWNER, "owner")
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    return app, server, owner


def save(owner: StaffVisitor, **changes):
    page = owner.get("/staff/settings")
    current = {"shop_name": "Test Repair Shop", "shop_phone": "", "shop_email": "",
               "allowed_ips": "", "embed_origins": ""}
    assert page.status_code == 200
    return owner.post_form("/staff/settings", {**current, **changes})


def test_a_setting_shows_at_once_in_every_process_with_its_history(owner_portal, sandbox,
                                                                    smtp, tmp_path):
    app, server, owner = owner_portal
    # A second portal process on the same database (another machine, in a chain of shops).
    other = create_app(portal_config(sandbox, smtp, tmp_path,
                                     DATABASE=app.config["DATABASE"]))
    other.test_client_class = BrowserLikeClient
    assert "Test Repair Shop" in other.test_client().get("/login").get_data(as_text=True)
    page = save(owner, shop_name="Rivera & Sons Repair", shop_phone="(555) 010-9999")
    assert "Saved" in text_of(page.text)
    assert "Rivera &amp; Sons Repair" in Visitor(server.url).get("/login").text
    time.sleep(2.1)  # the other process looks again at most every 2 seconds
    login = other.test_client().get("/login").get_data(as_text=True)
    assert "Rivera &amp; Sons Repair" in login and "(555) 010-9999" in login
    history = text_of(owner.get("/staff/settings").text)
    assert "owner@shop.example SHOP_NAME" in history and '"Rivera & Sons Repair"' in history
    # Secrets are shown masked, and never stored in the settings table.
    key = app.config["CAYAN_MERCHANT_KEY"]
    assert "•••••-" + key[-5:] in history and key not in owner.last.text
    with app.app_context():
        with app.extensions["database"].connect() as db:
            keys = {row[0] for row in db.execute("SELECT key FROM shop_settings").fetchall()}
    assert keys == {"SHOP_NAME", "SHOP_PHONE"}
    other.extensions["database"].dispose()


@pytest.mark.parametrize("field", ["shop_name", "shop_phone"])
def test_a_shop_name_or_phone_on_two_lines_is_refused(owner_portal, field):
    """The shop's name is the sender's name on receipts; a line break in it (a crafted post:
    a browser's one-line field drops them) was saved."""
    app, server, owner = owner_portal
    page = save(owner, **{field: "Northside Repair\nSpringfield"})
    assert page.status_code == 400 and "Keep it to one line" in text_of(page.text)
    assert "Saved" not in text_of(page.text) and app.config["SHOP_NAME"] == "Test Repair Shop"


def test_a_phone_taken_off_and_the_alert_list_are_saved_too(make_portal):
    app, server = make_portal(SHOP_PHONE="(555) 010-4242")
    add_account(app, *OWNER, "owner")
    owner = StaffVisitor(server.url)
    owner.sign_in_owner()
    assert "(555) 010-4242" in Visitor(server.url).get("/login").text
    page = save(owner, shop_phone="", alert_emails="Books@Shop.example\nnot-an-address")
    assert page.status_code == 400 and "not-an-address: not an email address" in \
        text_of(page.text)
    page = save(owner, shop_phone="", alert_emails="Books@Shop.example")
    assert "Saved" in text_of(page.text)
    assert "(555) 010-4242" not in Visitor(server.url).get("/login").text
    assert app.config["STAFF_ALERT_EMAILS"] == ["Books@shop.example"]
    assert "Nothing changed" in text_of(save(owner, shop_phone="",
                                             alert_emails="Books@shop.example").text)


def test_an_allowlist_that_shuts_out_its_owner_asks_first(owner_portal):
    app, server, owner = owner_portal
    page = save(owner, allowed_ips="192.0.2.0/24")
    assert page.status_code == 409
    assert "does not include the address you are using now (127.0.0.1)" in text_of(page.text)
    assert owner.get("/staff/").status_code == 200  # nothing saved
    bad = save(owner, allowed_ips="192.0.2.0/24\nnot-an-address")
    assert bad.status_code == 400 and "Not an address or range" in text_of(bad.text)
    fine = save(owner, allowed_ips="127.0.0.1\n192.0.2.0/24")
    assert "Saved" in text_of(fine.text)
    page = save(owner, allowed_ips="192.0.2.0/24", confirm_lockout="y")
    assert owner.get("/staff/").status_code == 403


def test_embedding_follows_the_list_and_the_dashboard_is_never_framed(owner_portal):
    app, server, owner = owner_portal
    for bad in ("http://www.shop.example", "https://*", "https://*.com",
                "https://user:pw@shop.example", "https://shop.example/pay", "https://shop.example *"):
        refused = save(owner, embed_origins=bad)
        assert refused.status_code == 400, bad
        assert "is not a web address like" in text_of(refused.text), bad
    # An international name is kept in the form a response header can carry.
    save(owner, embed_origins="https://www.shop.example\nhttps://例え.jp")
    customer = Visitor(server.url).get("/login")
    assert customer.status_code == 200
    assert "frame-ancestors https://www.shop.example https://xn--r8jz45g.jp" in \
        customer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in owner.get("/staff/").headers["Content-Security-Policy"]
    code = owner.get("/staff/settings").text
    assert f'&lt;iframe src="{server.url}/login"' in code and "Pay your bill" in code


def png_with_metadata() -> bytes:
    image = Image.new("RGB", (64, 32), "#0b5394")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 51.5N secret-location")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (40, 40), "white")
    exif = Image.Exif()
    exif[0x010E] = "secret-location"  # ImageDescription
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def upload(owner: StaffVisitor, name: str, data: bytes, content_type: str = "image/png"):
    owner.get("/staff/settings")
    return owner.post_form("/staff/settings/logo", {},
                           files={"logo": (name, data, content_type)})


@pytest.mark.parametrize("name,data", [("logo.png", png_with_metadata()),
                                       ("logo.jpg", jpeg_with_exif())])
def test_a_logo_is_re_encoded_without_metadata_and_shown(owner_portal, name, data):
    app, server, owner = owner_portal
    page = upload(owner, name, data)
    assert "The new logo is in place" in text_of(page.text)
    logo_path = app.config["SHOP_LOGO"]
    assert logo_path.startswith("/shop-logo/") and logo_path.endswith(".png")
    assert f'src="{logo_path}"' in Visitor(server.url).get("/login").text
    served = Visitor(server.url).get(logo_path)
    assert served.headers["Content-Type"] == "image/png"
    assert b"secret-location" not in served.content
    assert Image.open(io.BytesIO(served.content)).format == "PNG"
    assert Visitor(server.url).get("/shop-logo/0000000000000000.png").status_code == 404


def bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")  # 400 million pixels in ~50 KB
    return out.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize("name,data,content_type,words", [
    ("logo.png", b"<?php system($_GET['c']); ?>", "image/png", "not a PNG, JPEG or WebP"),
    ("logo.svg", SVG, "image/svg+xml", "not a PNG, JPEG or WebP"),
    ("logo.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", "not a PNG, JPEG or WebP"),
    ("big.png", b"\x89PNG" + b"\0" * (600 * 1024), "image/png", "at most 512 KB"),
    ("bomb.png", None, "image/png", "too large in pixels"),
])
def test_a_bad_logo_is_refused_with_a_message_and_nothing_stored(owner_portal, name, data,
                                                                 content_type, words):
    app, server, owner = owner_portal
    page = upload(owner, name, bomb() if data is None else data, content_type)
    assert words in text_of(page.text)
    assert_no_logo(app)


def test_a_20_mb_upload_is_refused_before_it_is_read(owner_portal):
    app, server, owner = owner_portal
    owner.get("/staff/settings")
    try:
        page = owner.post_form("/staff/settings/logo", {}, files={
            "logo": ("huge.png", b"\x89PNG" + b"\0" * (20 * 1024 * 1024), "image/png")})
    except Exception as exc:  # noqa: BLE001 - the server may close before reading it all
        assert "Connection" in type(exc).__name__ or "reset" in str(exc).lower(), exc
    else:
        assert page.status_code == 413 and "at most 512 KB" in text_of(page.text)
    assert_no_logo(app)


def assert_no_logo(app) -> None:
    with app.app_context():
        with app.extensions["database"].connect() as db:
            assert db.execute("SELECT COUNT(*) FROM shop_images").fetchone()[0] == 0
    assert not app.config["SHOP_LOGO"]


def test_location_email_settings_reach_the_test_receipt_and_real_ones(owner_portal, smtp):
    app, server, owner = owner_portal
    owner.get("/staff/settings")
    page = owner.post_form("/staff/settings/locations/MAIN", {
        "MAIN-mail_sender_name": "Rivera Main Desk", "MAIN-mail_sender": "desk@shop.example",
        "MAIN-mail_reply_to": "help@shop.example",
        "MAIN-receipt_footer": "Thank you for choosing Rivera. Warranty: 90 days.",
        "send_test": "1"})
    assert "Test receipt sent to owner@shop.example" in text_of(page.text)
    (test,) = [m for m in smtp.messages() if "owner@shop.example" in m["rcpt_to"]]
    assert test["subject"].startswith("[TEST]") and "Warranty: 90 days." in test["text"]
    assert "desk@shop.example" in test["mail_from"]
    paid(server.url, ["INV-10244"])
    (receipt,) = [m for m in smtp.wait_for(2) if "owner@shop.example" not in m["rcpt_to"]]
    assert "Warranty: 90 days." in receipt["text"] and "desk@shop.example" in receipt["mail_from"]


def test_a_test_receipt_the_mail_server_refuses_is_said_and_logged(owner_portal, faults, caplog):
    """'The log has the details' must be true."""
    from cpp.sandbox.faults import Fault

    app, server, owner = owner_portal
    owner.get("/staff/settings")
    faults.arm(Fault("smtp", "DATA", mode="fault"))
    page = owner.post_form("/staff/settings/locations/MAIN", {
        "MAIN-mail_sender": "desk@shop.example", "send_test": "1"})
    assert "The test receipt could not be sent" in text_of(page.text)
    assert any("test receipt of MAIN to owner@shop.example not sent: SMTPDataError" in
               record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("field,value,words", [
    ("mail_sender", "zoë@northside.example", "can't be used for email"),
    ("mail_reply_to", "not an address", "can't be used for email"),
    ("mail_sender_name", "Rivera\r\nBcc: spy@evil.example", "one line"),
])
def test_location_email_settings_that_no_receipt_could_use_are_refused(owner_portal, field,
                                                                        value, words):
    """Saved, an accented sender address made every receipt of that location fail, silently
    (the mail library cannot send it); a line break in the sender name, the same."""
    app, server, owner = owner_portal
    owner.get("/staff/settings")
    typed = {"MAIN-mail_sender_name": "Rivera Main Desk", "MAIN-mail_sender": "desk@shop.example",
             "MAIN-receipt_footer": "Warranty: 90 days.", f"MAIN-{field}": value}
    page = owner.post_form("/staff/settings/locations/MAIN", typed)
    assert page.status_code == 400 and "saved." not in text_of(page.text)
    # Beside the field, in the form the browser is taken to, with what was typed still there.
    assert 'action="/staff/settings/locations/MAIN#location-MAIN"' in page.text
    form = page.text.split('id="location-MAIN"')[1].split("</form>")[0]
    assert "Not saved: correct what is marked below" in text_of(form)
    [refused_input] = re.findall(rf'<input[^>]*id="MAIN-{field}"[^>]*>', form)
    assert 'aria-invalid="true"' in refused_input
    assert words in text_of(form.split(refused_input)[1].split("</div>")[0])
    for name, kept in typed.items():
        if name != f"MAIN-{field}":
            assert html.escape(kept) in form, name
    with app.app_context():
        from cpp import shop_settings
        stored = json.dumps(shop_settings.stored())  # the value itself, escaped the same way
    assert json.dumps(value)[1:-1] not in stored
