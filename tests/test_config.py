"""Configuration: precedence, refusing to start when something is missing, demo mode's limits."""
from __future__ import annotations

import pytest

from cpp import ConfigError, create_app

PRODUCTION = {
    "SECRET_KEY": "test-secret-key-not-for-production",
    "PUBLIC_URL": "https://pay.shop.example",
    "PIMS_URL": "https://pims.shop.example/WebServices/Portal.asmx",
    "PIMS_USERNAME": "portal",
    "PIMS_PASSWORD": "test-only",
    "CAYAN_MERCHANT_NAME": "TEST MERCHANT",
    "CAYAN_MERCHANT_SITE_ID": "TESTSITE",
    "CAYAN_MERCHANT_KEY": "TEST1-TEST2-TEST3-TEST4-TEST5",
}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("CPP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CPP_DATABASE", str(tmp_path / "ledger.sqlite3"))
    monkeypatch.setenv("CPP_SANDBOX_DATA_DIR", str(tmp_path / "sandbox"))
    return monkeypatch


def write_config(tmp_path, **values) -> str:
    path = tmp_path / "config.py"
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in values.items()))
    return str(path)


def test_file_overrides_defaults_and_environment_overrides_file(clean_env, tmp_path):
    clean_env.setenv("CPP_CONFIG", write_config(tmp_path, **PRODUCTION, SHOP_NAME="From File",
                                                PIMS_TIMEOUT=7))
    app = create_app()
    assert app.config["SHOP_NAME"] == "From File"
    assert app.config["PIMS_TIMEOUT"] == 7.0
    assert app.config["CAYAN_TIMEOUT"] == 20.0  # the default where nothing overrides it
    clean_env.setenv("CPP_SHOP_NAME", "From Environment")
    clean_env.setenv("CPP_PIMS_TIMEOUT", "4.5")
    app = create_app()
    assert app.config["SHOP_NAME"] == "From Environment"
    assert app.config["PIMS_TIMEOUT"] == 4.5
    assert app.config["DEMO_MODE"] is False


def test_environment_alone_configures_production(clean_env):
    for key, value in PRODUCTION.items():
        clean_env.setenv(f"CPP_{key}", value)
    app = create_app()
    assert app.config["DEMO_MODE"] is False
    assert "sandbox_pims.endpoint" not in app.view_functions


def test_production_without_secret_key_refuses_to_start_and_names_it(clean_env, tmp_path):
    settings = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    clean_env.setenv("CPP_CONFIG", write_config(tmp_path, **settings))
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_half_configured_production_names_every_missing_key(clean_env):
    clean_env.setenv("CPP_PIMS_URL", "https://pims.shop.example/ws")
    with pytest.raises(ConfigError) as raised:
        create_app()
    for key in ("SECRET_KEY", "PUBLIC_URL", "PIMS_USERNAME", "CAYAN_MERCHANT_KEY"):
        assert key in str(raised.value)


@pytest.mark.parametrize("url,ok", [
    ("https://pims.shop.example/ws", True),
    ("http://127.0.0.1:8081/sandbox/pims", True),
    ("http://localhost:8081/ws", True),
    ("http://pims.shop.example/ws", False),
    ("http://192.168.1.20/ws", False),
    ("ftp://pims.shop.example/ws", False),
    ("https://portal:not-a-real-password@pims.shop.example/ws", False),  # never sent: refused
])
def test_pims_url_must_be_https_except_to_loopback(url, ok, tmp_path):
    config = {**PRODUCTION, "PIMS_URL": url, "DATABASE": str(tmp_path / "l.sqlite3")}
    if ok:
        assert create_app(config).config["PIMS_URL"] == url
    else:
        with pytest.raises(ConfigError, match="PIMS_URL"):
            create_app(config)


def test_nothing_configured_is_demo_mode_with_the_sandbox(clean_env):
    app = create_app()
    assert app.config["DEMO_MODE"] is True
    assert app.config["PIMS_URL"].endswith("/sandbox/pims")
    assert "sandbox_pims.endpoint" in app.view_functions
    assert "sandbox_mail.mailbox" in app.view_functions
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "Demo mode." in html and "/sandbox/mail" in html


@pytest.mark.parametrize("key", ["PIMS_URL", "CAYAN_MERCHANT_NAME", "CAYAN_MERCHANT_SITE_ID",
                                 "CAYAN_MERCHANT_KEY"])
def test_any_real_setting_turns_demo_mode_off(clean_env, key):
    clean_env.setenv(f"CPP_{key}", PRODUCTION[key])
    with pytest.raises(ConfigError):  # and then the rest of production is required
        create_app()


def test_demo_mode_cannot_be_forced_on_with_real_settings(tmp_path):
    with pytest.raises(ConfigError, match="DEMO_MODE"):
        create_app({**PRODUCTION, "DEMO_MODE": True, "DATABASE": str(tmp_path / "l.sqlite3")})


def test_production_has_no_sandbox_routes_and_no_banner(tmp_path):
    app = create_app({**PRODUCTION, "DATABASE": str(tmp_path / "l.sqlite3")})
    client = app.test_client()
    for path in ("/sandbox/mail", "/sandbox/cayan/transportweb.aspx?transportKey=x"):
        assert client.get(path).status_code == 404
    assert client.post("/sandbox/pims", data=b"<x/>").status_code in (400, 404)
    assert "Demo mode." not in client.get("/login").get_data(as_text=True)


def test_a_production_portal_never_loads_the_sandbox(tmp_path):
    """The sandbox plugs into the portal in demo mode only: production code does not import it."""
    import json
    import subprocess
    import sys

    config = {**PRODUCTION, "DATABASE": str(tmp_path / "l.sqlite3")}
    script = ("import json, sys; from cpp import create_app; "
              f"create_app(json.loads({json.dumps(json.dumps(config))})); "
              "print(sorted(m for m in sys.modules if m.startswith('cpp.sandbox')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_reconciliation_runs_by_itself_unless_switched_off():
    """A shop that schedules nothing still gets a customer's closed-tab payment posted."""
    import ast
    from pathlib import Path

    from .conftest import SHIPPED_DEFAULTS

    assert SHIPPED_DEFAULTS["RECONCILE_EVERY"] == 300
    example = ast.parse((Path(__file__).parents[1] / "config.example.py").read_text())
    assert any(isinstance(node, ast.Assign) and node.targets[0].id == "RECONCILE_EVERY"
               and ast.literal_eval(node.value) == 300 for node in example.body)


def test_config_example_documents_every_key():
    import ast
    from pathlib import Path

    from cpp.config import DEFAULTS, INTERNAL_KEYS

    source = (Path(__file__).resolve().parents[1] / "config.example.py").read_text()
    documented = {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
                  for target in node.targets}
    assert documented == set(DEFAULTS) - set(INTERNAL_KEYS)


@pytest.mark.parametrize("key,value,words", [
    ("EMBED_ALLOWED_ORIGINS", ["https://*"], "EMBED_ALLOWED_ORIGINS"),
    ("EMBED_ALLOWED_ORIGINS", ["https://shop.example/pay"], "EMBED_ALLOWED_ORIGINS"),
    ("STAFF_ALLOWED_IPS", ["192.168.1.0/24", "the shop"], "STAFF_ALLOWED_IPS"),
    ("LINK_SECRET", "too-short", "LINK_SECRET"),
    ("LINK_SECRET", PRODUCTION["SECRET_KEY"], "LINK_SECRET"),
    ("LANGUAGE_LOCALES", {"es": "es_XX_nonsense"}, "LANGUAGE_LOCALES"),
    ("LOCALE", "klingon", "LOCALE"),
])
def test_bad_embedding_sites_staff_addresses_or_link_secret_stop_the_start(tmp_path, key, value, words):
    with pytest.raises(ConfigError, match=words):
        create_app({**PRODUCTION, key: value, "DATABASE": str(tmp_path / "l.sqlite3")})


def test_staff_lists_from_the_environment_are_lists(clean_env, tmp_path):
    clean_env.setenv("CPP_STAFF_ALLOWED_IPS", "192.168.1.0/24, 203.0.113.7")
    clean_env.setenv("CPP_STAFF_ALERT_EMAILS", "owner@shop.example")
    clean_env.setenv("CPP_CONFIG", write_config(tmp_path, **PRODUCTION,
                                                DATABASE=str(tmp_path / "l.sqlite3")))
    app = create_app()
    assert app.config["STAFF_ALLOWED_IPS"] == ["192.168.1.0/24", "203.0.113.7"]
    assert app.config["STAFF_ALERT_EMAILS"] == ["owner@shop.example"]


def test_a_database_in_a_folder_that_does_not_exist_is_said_plainly(tmp_path):
    with pytest.raises(ConfigError, match="DATABASE is in a folder that does not exist"):
        create_app({**PRODUCTION, "DATABASE": str(tmp_path / "nowhere" / "ledger.sqlite3")})
