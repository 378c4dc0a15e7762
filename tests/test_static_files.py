"""Static files: linked with a hash of their content, kept by browsers for a year under that
link, and revalidated every time under any other."""
from __future__ import annotations

import hashlib
import os
import re

import requests

from cpp.static_files import YEAR, version_of

STATIC = os.path.join(os.path.dirname(__file__), "..", "cpp", "static")


def test_pages_link_each_static_file_under_its_content_hash_and_browsers_keep_it(portal, visitor):
    _, server = portal
    page = visitor.login("M-1000").text  # the invoices page: stylesheet, icon and its script
    links = re.findall(r'(?:href|src)="(/static/([^"?]+)\?v=([0-9a-f]+))"', page)
    assert {name for _, name, _ in links} >= {"css/portal.css", "img/favicon.svg",
                                             "js/invoices.js"}
    for url, name, version in links:
        with open(os.path.join(STATIC, name), "rb") as file:
            assert version == hashlib.sha256(file.read()).hexdigest()[:12]
        kept = requests.get(server.url + url, timeout=10)
        assert kept.status_code == 200
        assert f"max-age={YEAR}" in kept.headers["Cache-Control"]
        assert "immutable" in kept.headers["Cache-Control"]
        again = requests.get(server.url + url, headers={"If-None-Match": kept.headers["ETag"]},
                             timeout=10)
        assert again.status_code == 304 and f"max-age={YEAR}" in again.headers["Cache-Control"]


def test_without_the_current_hash_a_static_file_is_revalidated_every_time(portal):
    """An old page still in a browser asks for an old hash: it must not get a year of it."""
    _, server = portal
    for url in ("/static/css/portal.css", "/static/css/portal.css?v=000000000000",
                "/static/css/portal.css?v="):
        answer = requests.get(server.url + url, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-cache"


def test_a_file_changed_in_place_gets_a_new_version(tmp_path):
    style = tmp_path / "style.css"
    style.write_text("body { color: black }")
    first = version_of(str(tmp_path), "style.css")
    style.write_text("body { color: navy }")
    os.utime(style, ns=(0, os.stat(style).st_mtime_ns + 1_000_000))
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    assert version_of(str(tmp_path), "style.css") not in (None, first)
    assert version_of(str(tmp_path), "missing.css") is None
    (tmp_path / "same.css").hardlink_to(style)  # another name for the file: one entry
    from cpp import static_files
    entries = len(static_files._versions)
    assert version_of(str(tmp_path), "same.css") == version_of(str(tmp_path), "style.css")
    assert len(static_files._versions) == entries
    assert version_of(str(tmp_path / "sub"), "../style.css") is None  # never outside its folder
