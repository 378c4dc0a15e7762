"""Command-line tools: `flask --app app sandbox ...` and `flask --app app cpp ...`."""
from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import AppGroup

sandbox_cli = AppGroup("sandbox", help="Run the built-in sandbox services on their own.")


def serve_sandbox(services: tuple[str, ...], host: str, port: int, data_dir: str,
                  public_url: str | None) -> None:
    from .sandbox import create_sandbox_app

    app = create_sandbox_app(data_dir, services,
                             {"SANDBOX_PUBLIC_URL": public_url or f"http://{host}:{port}"})
    click.echo(f"Sandbox {' + '.join(services)} on http://{host}:{port}/sandbox/ "
               f"(data in {data_dir})")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


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
    serve_sandbox(("pims",), host, port, data_dir, None)


def register_commands(app: Flask) -> None:
    app.cli.add_command(sandbox_cli)
