"""Command-line tools: `flask --app app sandbox ...` and `flask --app app cpp ...`."""
from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import AppGroup
from werkzeug.serving import run_simple

sandbox_cli = AppGroup("sandbox", help="Run the built-in sandbox services on their own.")


def serve_sandbox(services: tuple[str, ...], host: str, port: int, data_dir: str) -> None:
    from .sandbox import SANDBOX_DEFAULTS, create_sandbox_app

    app = create_sandbox_app(data_dir, services)
    click.echo(f"Sandbox {' + '.join(services)} on http://{host}:{port}/sandbox/ "
               f"(data in {data_dir})")
    for key, value in SANDBOX_DEFAULTS.items():
        click.echo(f"  accepts {key.removeprefix('SANDBOX_')} = {value}")
    # run_simple, not app.run: Flask ignores app.run() inside a `flask` command.
    run_simple(host, port, app, threaded=True, use_reloader=False)


def sandbox_options(function):
    function = click.option("--host", default="127.0.0.1", show_default=True)(function)
    function = click.option("--data-dir", default=os.path.join("instance", "sandbox"),
                            show_default=True, help="where the sandbox keeps its SQLite data")(function)
    return function


@sandbox_cli.command("pims")
@sandbox_options
@click.option("--port", default=8081, show_default=True)
def sandbox_pims(host: str, port: int, data_dir: str) -> None:
    """The sandbox PIMS Web Services Module (SOAP at /sandbox/pims)."""
    serve_sandbox(("pims",), host, port, data_dir)


@sandbox_cli.command("cayan")
@sandbox_options
@click.option("--port", default=8082, show_default=True)
def sandbox_cayan(host: str, port: int, data_dir: str) -> None:
    """The sandbox Cayan: Transport, Reporting, Credit (SOAP) and the hosted card page."""
    serve_sandbox(("cayan",), host, port, data_dir)


@sandbox_cli.command("all")
@sandbox_options
@click.option("--port", default=8081, show_default=True)
def sandbox_all(host: str, port: int, data_dir: str) -> None:
    """PIMS and Cayan sandboxes together on one port."""
    serve_sandbox(("pims", "cayan"), host, port, data_dir)


def register_commands(app: Flask) -> None:
    app.cli.add_command(sandbox_cli)
