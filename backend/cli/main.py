"""Entry point of the `nasboard` console script."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module registers its own sub-commands; a group whose extras are missing fails alone, at use.
COMMAND_MODULES = (
    "backend.cli.bench",
    "backend.cli.search",
    "backend.cli.service",
    "backend.cli.client",
    "backend.cli.tokens",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasboard", description="Neural architecture search service")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
