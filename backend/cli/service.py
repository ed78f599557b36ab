"""`nasboard up` and the service commands (placeholder until the service issue lands)."""

from __future__ import annotations

import argparse
import sys


def _up(args: argparse.Namespace) -> int:
    print(
        "nasboard up: the service (API + workers) is not built yet; see the open service issue.",
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="run the API and workers on embedded defaults")
    p.set_defaults(func=_up)
