"""ASGI entry point for worker processes: settings from the environment, app built once."""

from __future__ import annotations

from litestar import Litestar

from app.api import create_app
from app.config import load_settings
from app.logs import setup_logging


def app_factory() -> Litestar:
    setup_logging()
    return create_app(load_settings())
