"""`nasboard token create | list | revoke`: API tokens, in the database the NASBOARD_* settings name.

Runs on the server side (it opens the database, not the HTTP API), so whoever can read the service's
configuration can mint tokens, and nobody else.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from backend.cli.service import apply_data_dir

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _name(text: str) -> str:
    if not text.strip() or len(text) > 100:
        raise argparse.ArgumentTypeError("a token name is 1 to 100 characters")
    return text


def _session(write: bool = False) -> AbstractContextManager[Session]:
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from backend.settings import get_settings

    upgrade_to_head()  # the first command on a fresh data directory may be this one
    return session_scope(get_settings(), write=write)


def _create(args: argparse.Namespace) -> int:
    from backend.db import repository

    apply_data_dir(args.data_dir)
    try:
        with _session(write=True) as session:
            token = repository.create_token(session, args.name)
    except repository.TokenExists as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} created; it is shown only this once (send it as `Authorization: Bearer`):")
    print(token)  # alone on the last line, for `$(nasboard token create x | tail -n1)`
    return 0


def _list(args: argparse.Namespace) -> int:
    from backend.db import repository

    apply_data_dir(args.data_dir)
    with _session() as session:
        tokens = repository.list_tokens(session)
    print(f"{'name':<24} {'created':<20} last used")
    for t in tokens:
        last = t.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if t.last_used_at else "never"
        print(f"{t.name:<24} {t.created_at:%Y-%m-%d %H:%M:%S}  {last}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from backend.db import repository

    apply_data_dir(args.data_dir)
    try:
        with _session(write=True) as session:
            repository.revoke_token(session, args.name)
    except repository.NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="create, list or revoke API tokens (opens the database directly)")
    tokens = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    for name, func, help_text in (
        ("create", _create, "create a token and print it (once)"),
        ("list", _list, "list tokens: name, created, last used (never the token)"),
        ("revoke", _revoke, "delete a token: requests sending it are refused from now on"),
    ):
        q = tokens.add_parser(name, help=help_text)
        if name != "list":
            q.add_argument(
                "name", type=_name, help="a name for whoever uses the token (recorded on their searches)"
            )
        q.add_argument("--data-dir", help="the service's data directory (when the database is embedded)")
        q.set_defaults(func=func)
