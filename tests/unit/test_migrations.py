"""The Alembic migrations are the schema: they create what the models describe, and nothing differs."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from backend.db.migrate import upgrade_to_head
from backend.db.models import Base
from backend.db.session import get_engine
from backend.settings import Settings


def test_upgrade_to_head_creates_every_model_table_with_no_drift(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade_to_head(settings)
    engine = get_engine(settings.database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_to_head_is_idempotent(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade_to_head(settings)
    upgrade_to_head(settings)
    with get_engine(settings.database_url).connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0001"
