"""The shop's side: the staff dashboard at /staff (payments, needs attention, health, activity,
Manage Settings, the team), and the accounts that sign in to it."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from ..extensions import csrf
    from . import (  # noqa: F401 - routes
        links_views,
        payment_views,
        settings_views,
        sign_in,
        team,
        views,
    )
    from .blueprint import bp
    from .logo import bp as logo_bp

    # Staff forms carry the staff session's own token, checked by cpp.staff.access.guard.
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(logo_bp)
