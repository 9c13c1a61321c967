"""`statuspass …` command line."""

from __future__ import annotations

import argparse
import sys

from app import __version__
from app.errors import ConfigError, DomainError, StoreUnavailable

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from app.cli import admin, audit, demo, serve, store_copy, verify

    parser = argparse.ArgumentParser(prog="statuspass", description=__doc__)
    parser.add_argument("--version", action="version", version=f"statuspass {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.add_parser(sub)
    admin.add_clients(sub)
    admin.add_keys(sub)
    audit.add_audit(sub)
    verify.add_parser(sub)
    demo.add_parser(sub)
    admin.add_dev(sub)
    store_copy.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"statuspass: configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"statuspass: the store is unavailable: {exc}", file=sys.stderr)
        return 3
    except DomainError as exc:
        print(f"statuspass: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
