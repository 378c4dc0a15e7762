"""The stylesheet, scripts and images, kept by browsers for a year and never stale.

Every link to a static file carries a hash of its content (`/static/css/portal.css?v=…`,
added by url_for). A request whose `v` is the file's current hash gets a year's caching, so a
customer's phone loads the next page without asking again for the stylesheet and the script.
When the portal is upgraded, the file's hash, and so its URL, changes with it. Without `v`,
or with an old one, the answer is revalidated every time (Flask's default), so an old page
still in a browser never holds on to an outdated file. A cache in front of the portal must
keep the query string in its key, as IIS ARR and nginx do by default (docs/deploy.md).
"""
from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, request
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600
# The file itself (device, inode or Windows file id, size, modified time) -> hash: a file
# changed in place gets a new one, and the many names Windows accepts for one file
# (Portal.CSS, "portal.css.") share one entry. Bounded all the same.
_versions: dict[tuple[int, int, int, int], str] = {}
MAX_VERSIONS = 1024


def version_of(folder: str, filename: str) -> str | None:
    """The first 12 hex digits of the file's SHA-256, or None if there is no such file."""
    path = safe_join(folder, filename)  # never outside the folder, whatever the name
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    version = _versions.get(key)
    if version is None:
        with open(path, "rb") as file:
            version = hashlib.sha256(file.read()).hexdigest()[:12]
        if len(_versions) >= MAX_VERSIONS:
            _versions.clear()
        _versions[key] = version
    return version


def init_app(app: Flask) -> None:
    @app.url_defaults
    def add_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and "filename" in values:
            version = version_of(current_app.static_folder, values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def cache_versioned(response):
        if request.endpoint == "static" and response.status_code in (200, 304):
            filename = (request.view_args or {}).get("filename", "")
            wanted = request.args.get("v")
            if wanted and wanted == version_of(app.static_folder, filename):
                response.cache_control.no_cache = None
                response.cache_control.public = True
                response.cache_control.max_age = YEAR
                response.cache_control.immutable = True
        return response
