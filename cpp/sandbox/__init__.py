"""Built-in stand-ins for PIMS, Cayan and a mailbox, for the demo and the tests.

They speak the real wire formats over real HTTP (and SMTP). `install` mounts them into the portal
in demo mode only (the config module decides, and never in a production configuration);
`create_sandbox_app` runs them on their own, so a portal can be pointed at them through its
ordinary PIMS_URL / CAYAN_* settings exactly as at a shop's real services.
"""
from __future__ import annotations

import os

from flask import Flask, has_request_context, url_for

from .cayan_store import CayanStore
from .faults import FaultInjector
from .pims_store import PimsStore
from .settings import SANDBOX_DEFAULTS, apply_demo_settings

__all__ = ["SANDBOX_DEFAULTS", "create_sandbox_app", "install", "plug_in"]

ALL_SERVICES = ("pims", "cayan", "mail")


def plug_in(app: Flask) -> None:
    """Demo mode: the demo shop's settings, and every sandbox service mounted on the portal.

    The one way in: the portal calls this when cpp.config has decided on demo mode, and never
    imports the sandbox otherwise.
    """
    from ..config import DEFAULTS

    apply_demo_settings(app, DEFAULTS)
    install(app, data_dir=app.config.get("SANDBOX_DATA_DIR") or app.instance_path)


def install(app: Flask, data_dir: str, services: tuple[str, ...] = ALL_SERVICES,
            faults: FaultInjector | None = None) -> None:
    from ..extensions import csrf

    # This sandbox's own fault switches and call counts (tests share them with their SMTP server).
    faults = app.extensions.setdefault("sandbox_faults", faults or FaultInjector())
    for key, value in SANDBOX_DEFAULTS.items():
        app.config.setdefault(key, value)
    os.makedirs(data_dir, exist_ok=True)
    if "pims" in services:
        from . import demo_data, pims_service

        store = PimsStore(os.path.join(data_dir, "sandbox-pims.sqlite3"))
        if store.is_empty():
            demo_data.seed(store)
        app.extensions["sandbox_pims"] = store
        app.register_blueprint(pims_service.bp)
        csrf.exempt(pims_service.bp)
    if "cayan" in services:
        from . import cayan_service

        app.extensions["sandbox_cayan"] = CayanStore(os.path.join(data_dir, "sandbox-cayan.sqlite3"))
        app.register_blueprint(cayan_service.bp)
        csrf.exempt(cayan_service.bp)  # the card page stands for another site: no portal token
    if "mail" in services:
        from . import mailbox

        store = mailbox.MailboxStore(os.path.join(data_dir, "sandbox-mail.sqlite3"))
        controller = mailbox.start_smtp(store, faults)
        app.extensions["sandbox_mailbox"] = store
        app.extensions["sandbox_smtp"] = controller
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port,
                          MAIL_USE_TLS=False, MAIL_USE_SSL=False)
        app.register_blueprint(mailbox.bp)
        # The demo banner's link to the mailbox: the portal's templates only see a URL.
        # (A receipt is rendered outside any request, by the background sender: no link.)
        app.context_processor(lambda: {"sandbox_mailbox_url": url_for("sandbox_mail.mailbox")
                                       if has_request_context() else None})


def create_sandbox_app(data_dir: str, services: tuple[str, ...] = ("pims", "cayan"),
                       config: dict | None = None, faults: FaultInjector | None = None) -> Flask:
    app = Flask(__name__, template_folder="../../templates")
    app.config.update(config or {})
    from ..i18n import init_babel

    init_babel(app)  # the card page speaks the customer's language too
    install(app, data_dir, services, faults)
    return app
