"""Upgrade a database to the newest schema: every `nasboard` command that serves calls this first."""

from __future__ import annotations

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
    command.upgrade(alembic_config(settings.database_url), "head")
