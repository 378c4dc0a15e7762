"""Customer Payment Portal: customers log in, pick unpaid PIMS invoices and pay them via Cayan."""
from __future__ import annotations

import os

from flask import Flask

from . import i18n, invoices, kiosk, shared_state, shop_settings, staff, static_files, templating
from .auth import routes as auth_routes
from .auth.session import load_customer
from .cayan import client as cayan_client
from .cli import register_commands
from .config import ConfigError, load_config
from .errors import register_errorhandlers
from .extensions import csrf, login_manager, mail
from .formatting import register_template_helpers
from .headers import register_security_headers
from .links import routes as link_routes
from .logging_setup import configure_logging
from .payments import ledger
from .payments import routes as payment_routes
from .payments.reconcile import start_background as start_reconciler
from .pims import client as pims_client
from .proxy import register_proxy_support
from .server_session import ServerSessionInterface

__all__ = ["create_app", "ConfigError"]


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates")
    load_config(app, test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app)
    if app.config["DEMO_MODE"]:
        # Only ever reached with no PIMS_URL and no Cayan credentials (see config.decide_mode);
        # imported here so that a production portal never loads the sandbox at all.
        from .sandbox import plug_in

        plug_in(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_security_headers(app)
    static_files.init_app(app)
    register_proxy_support(app)
    register_commands(app)
    start_reconciler(app)
    return app


def register_extensions(app: Flask) -> None:
    csrf.init_app(app)
    templating.init_app(app)  # before any template is compiled
    i18n.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(load_customer)
    login_manager.unauthorized_handler(auth_routes.must_log_in)
    mail.init_app(app)
    app.session_interface = ServerSessionInterface()
    pims_client.init_app(app)
    cayan_client.init_app(app)
    ledger.init_app(app)  # the database, which shared_state may use
    shared_state.init_app(app)
    shop_settings.init_app(app)  # settings edited on the staff dashboard, over the file's


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(invoices.bp)
    app.register_blueprint(payment_routes.bp)
    link_routes.register(app)
    kiosk.register(app)
    staff.init_app(app)
