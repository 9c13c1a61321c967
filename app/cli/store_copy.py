"""`statuspass store copy SRC DST` (moving between SQLite and Redis) — see issue 4."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("store", help="store maintenance")
    s = p.add_subparsers(dest="action", required=True)
    c = s.add_parser("copy", help="copy every record from one store to another")
    c.add_argument("src")
    c.add_argument("dst")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("store copy is not available in this version", file=sys.stderr)
    return 2
