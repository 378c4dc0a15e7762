"""Settings an owner edits on the staff dashboard (Manage Settings): stored in the database with
their history, winning over the config file, and seen by every portal process within
REFRESH_SECONDS without a restart.

Only the keys in EDITABLE can be stored here; connection details and secrets (PIMS, Cayan,
mail passwords, SECRET_KEY) never are. A stored value is laid over the config file's value in
app.config, so the rest of the portal simply reads app.config as before.
"""
from __future__ import annotations

import json
import threading
import time

from flask import Flask, current_app, request

# key -> what it holds. Per-location email settings are stored under "LOCATION_EMAIL:<code>".
EDITABLE = {
    "SHOP_NAME": "text",
    "SHOP_PHONE": "text",
    "SHOP_EMAIL": "text",
    "SHOP_LOGO": "text",
    "STAFF_ALLOWED_IPS": "list",
    "EMBED_ALLOWED_ORIGINS": "list",
    "STAFF_ALERT_EMAILS": "list",
    "LINK_REVOKED": "list",  # pay links taken back on the dashboard's Pay links page
}
LOCATION_EMAIL_PREFIX = "LOCATION_EMAIL:"
LOCATION_EMAIL_FIELDS = ("mail_sender_name", "mail_sender", "mail_reply_to", "receipt_footer")
REFRESH_SECONDS = 2.0

_lock = threading.Lock()


def is_editable(key: str) -> bool:
    return key in EDITABLE or key.startswith(LOCATION_EMAIL_PREFIX)


def init_app(app: Flask) -> None:
    # What the config file (and environment) said, to fall back to when a stored value goes.
    app.extensions["config_file_settings"] = {
        key: app.config.get(key) for key in (*EDITABLE, "LOCATIONS")}
    app.extensions["settings_refreshed_at"] = 0.0
    refresh(app, force=True)

    @app.before_request
    def settings_up_to_date():
        if not request.path.startswith(app.static_url_path + "/"):
            refresh(app)


def stored() -> dict[str, object]:
    with current_app.extensions["database"].connect() as db:
        rows = db.execute("SELECT key, value FROM shop_settings").fetchall()
    return {row["key"]: json.loads(row["value"]) for row in rows}


def refresh(app: Flask, force: bool = False) -> None:
    now = time.monotonic()
    if not force and now - app.extensions["settings_refreshed_at"] < REFRESH_SECONDS:
        return
    with _lock, app.app_context():
        if not force and now - app.extensions["settings_refreshed_at"] < REFRESH_SECONDS:
            return
        try:
            values = stored()
        except Exception:  # noqa: BLE001 - a database not yet upgraded: the file's values stand
            app.logger.exception("the dashboard's settings could not be read")
            values = {}
        apply(app, values)
        app.extensions["settings_refreshed_at"] = now


def apply(app: Flask, values: dict[str, object]) -> None:
    base = app.extensions["config_file_settings"]
    for key in EDITABLE:
        app.config[key] = values[key] if key in values else base[key]
    locations = {code: dict(details) for code, details in (base["LOCATIONS"] or {}).items()}
    for key, value in values.items():
        if key.startswith(LOCATION_EMAIL_PREFIX):
            code = key.removeprefix(LOCATION_EMAIL_PREFIX)
            locations.setdefault(code, {"name": code}).update(
                {field: value.get(field) or "" for field in LOCATION_EMAIL_FIELDS})
    app.config["LOCATIONS"] = locations


def file_value(key: str):
    """What the config file (or environment) says for `key`."""
    base = current_app.extensions["config_file_settings"]
    if key.startswith(LOCATION_EMAIL_PREFIX):
        location = (base["LOCATIONS"] or {}).get(key.removeprefix(LOCATION_EMAIL_PREFIX), {})
        return {field: location.get(field) for field in LOCATION_EMAIL_FIELDS}
    return base.get(key)


def same(a, b) -> bool:
    """Equal as settings: an empty text is no value."""
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a or {}, b or {}
        return all(same(a.get(k), b.get(k)) for k in set(a) | set(b))
    return (a or None) == (b or None)


def save(changes: dict[str, object], who: str) -> list[str]:
    """Store changed values, with a history row each; returns the keys that really changed.

    An empty value is stored too (a phone number taken off the pages, a logo removed): it wins
    over the config file like any other. None forgets the stored value, so the config file's
    applies again.
    """
    from .staff.accounts import now_text

    for key in changes:
        if not is_editable(key):
            raise KeyError(f"{key} cannot be set on the dashboard")
    app = current_app._get_current_object()
    changed = []
    now = now_text()
    with app.extensions["database"].transaction() as db:
        current = {row["key"]: row["value"] for row in
                   db.execute("SELECT key, value FROM shop_settings").fetchall()}
        for key, value in changes.items():
            old = current.get(key)
            in_effect = json.loads(old) if old is not None else file_value(key)
            if value is None and old is None:
                continue
            if value is not None and same(in_effect, value):
                continue
            new = None if value is None else json.dumps(value, sort_keys=True)
            if new is None:
                db.execute("DELETE FROM shop_settings WHERE key = ?", (key,))
            else:
                db.execute("INSERT INTO shop_settings (key, value, updated_at, updated_by)"
                           " VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                           " value = excluded.value, updated_at = excluded.updated_at,"
                           " updated_by = excluded.updated_by", (key, new, now, who))
            db.execute("INSERT INTO shop_settings_history (key, old_value, new_value,"
                       " changed_at, changed_by) VALUES (?, ?, ?, ?, ?)",
                       (key, old, new, now, who))
            changed.append(key)
    refresh(app, force=True)
    return changed


def history(limit: int = 50) -> list:
    with current_app.extensions["database"].connect() as db:
        return db.execute("SELECT * FROM shop_settings_history ORDER BY id DESC LIMIT ?",
                          (limit,)).fetchall()
