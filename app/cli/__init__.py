"""`statuspass …` command line."""

from __future__ import annotations

import argparse
import sys

from app import __version__
from app.cli.errors import EXIT_USAGE, UserError, describe_os_error
from app.errors import ConfigError, DomainError, StoreUnavailable

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from app.cli import admin, demo, serve, store_copy, verify

    parser = argparse.ArgumentParser(prog="statuspass", description=__doc__)
    parser.add_argument("--version", action="version", version=f"statuspass {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.add_parser(sub)
    admin.add_clients(sub)
    admin.add_keys(sub)
    admin.add_audit(sub)
    verify.add_parser(sub)
    demo.add_parser(sub)
    admin.add_dev(sub)
    store_copy.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's mistake is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UserError as exc:
        return _fail(str(exc))
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}")
    except StoreUnavailable as exc:
        print(f"statuspass: the store is unavailable: {exc}", file=sys.stderr)
        return 3
    except DomainError as exc:
        # refused by the domain (an unknown type, a client that does not exist, ...):
        # the request was the user's, so it is a user error like the others
        return _fail(exc.detail)
    except OSError as exc:  # a file named on the command line that cannot be used
        return _fail(describe_os_error(exc))
    except KeyboardInterrupt:
        return 130
    return code


def _fail(message: str) -> int:
    print(f"statuspass: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
