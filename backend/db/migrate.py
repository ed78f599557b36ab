"""Upgrade a database to the newest schema: every `nasboard` command that serves calls this first."""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config

from backend.settings import Settings, get_settings

_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade_to_head(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    settings.ensure_dirs()
    # Processes of one machine started together (`nasboard up`) take turns; Postgres adds its own
    # advisory lock in migrations/env.py for processes on different machines.
    with open(settings.data_dir / ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(alembic_config(settings.database_url), "head")
    # Serving processes may fork next (Celery's pool): leave no pooled connection behind to share.
    from backend.db.session import get_engine

    get_engine(settings.database_url).dispose()
