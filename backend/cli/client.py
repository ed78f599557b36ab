"""`nasboard` sub-commands: client (submit, list, status, cancel) (placeholder until its issue lands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    pass
