"""HTTP API: Litestar app factory, thin controllers, problem details at the edge."""

from app.api.app import create_app

__all__ = ["create_app"]
