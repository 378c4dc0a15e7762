"""The one pattern for a collaborator built on first use, once per app: a SOAP client whose
WSDL is read when it is first needed, not at import or on every request."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Config, Flask, current_app

T = TypeVar("T")


def built_on_first_use(name: str, build: Callable[[Config], T]
                       ) -> tuple[Callable[[Flask], None], Callable[[], T]]:
    """(init_app, get) for `app.extensions[name]`, built from the app's config when first got.

    Two threads that both get it first may both build one; one of the two is kept, and either
    works (the clients hold no state of their own).
    """
    def init_app(app: Flask) -> None:
        app.extensions[name] = None

    def get() -> T:
        service = current_app.extensions.get(name)
        if service is None:
            service = build(current_app.config)
            current_app.extensions[name] = service
        return service

    return init_app, get
