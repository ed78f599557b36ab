"""Alembic environment: runs migrations on the URL from the config, `-x url=...` or the NASBOARD settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from backend.db.models import Base
from backend.db.session import get_engine
from backend.settings import get_settings

config = context.config
MIGRATION_LOCK_KEY = 0x4E415342  # "NASB"


def _url() -> str:
    return (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or get_settings().database_url
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = get_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Processes starting together (api + workers, several machines) migrate one at a time;
                # the lock ends with the transaction, after which the others find the schema at head.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
