"""The Alembic migrations are the schema: they create what the models describe, and nothing differs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from services import service_missing
from sqlalchemy import create_engine, inspect, text

from backend.db.migrate import alembic_config, upgrade_to_head
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
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path).database_url
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2})
    name = f"nasboard_migr_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        service_missing("PostgreSQL not reachable at 127.0.0.1:5432; migration ran on SQLite only")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_strategy_state_migration_moves_states_and_keeps_candidates_both_ways(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "0001")
    engine = get_engine(database_url)
    state = {"history": [[1, 0.5]], "rng": "x" * 10_000}
    with engine.begin() as conn:  # two searches at 0001: one with a state, one without
        for sid, value in ((1, json.dumps(state)), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO searches (id, name, spec, status, progress, created_at, strategy_state, "
                    "seq, next_seq) VALUES (:id, 's', '{}', 'running', 0, CURRENT_TIMESTAMP, :state, 1, 2)"
                ),
                {"id": sid, "state": value},
            )
        conn.execute(
            text(
                "INSERT INTO candidates (search_id, seq, genome, canonical, status, metrics, created_at,"
                " rung) VALUES (1, 1, '{}', 'c', 'done', '{}', CURRENT_TIMESTAMP, 0)"
            )
        )
    engine.dispose()

    command.upgrade(alembic_config(database_url), "0002")
    with engine.connect() as conn:
        assert "strategy_state" not in {c["name"] for c in inspect(conn).get_columns("searches")}
        rows = conn.execute(text("SELECT search_id, state FROM strategy_states")).all()
        assert [(r[0], r[1] if isinstance(r[1], dict) else json.loads(r[1])) for r in rows] == [(1, state)]
        assert conn.execute(text("SELECT count(*) FROM candidates")).scalar() == 1  # rebuild kept them
    engine.dispose()

    command.downgrade(alembic_config(database_url), "0001")
    with engine.connect() as conn:
        assert "strategy_states" not in inspect(conn).get_table_names()
        back = dict(conn.execute(text("SELECT id, strategy_state FROM searches")).all())
        assert {k: v if v is None or isinstance(v, dict) else json.loads(v) for k, v in back.items()} == {
            1: state,
            2: None,
        }
        assert conn.execute(text("SELECT count(*) FROM candidates")).scalar() == 1
    engine.dispose()


def test_api_token_migration_adds_and_removes_tokens_and_created_by_keeping_rows(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "0003")
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO searches (id, name, spec, status, progress, created_at, seq, next_seq) "
                "VALUES (1, 's', '{}', 'running', 0, CURRENT_TIMESTAMP, 1, 2)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO candidates (search_id, seq, genome, canonical, status, metrics, created_at,"
                " rung) VALUES (1, 1, '{}', 'c', 'done', '{}', CURRENT_TIMESTAMP, 0)"
            )
        )
    engine.dispose()

    command.upgrade(alembic_config(database_url), "0004")
    with engine.begin() as conn:
        assert "created_by" in {c["name"] for c in inspect(conn).get_columns("searches")}
        conn.execute(text("UPDATE searches SET created_by = 'ci'"))
        conn.execute(
            text("INSERT INTO api_tokens (name, token_hash, created_at) VALUES ('ci', 'h', CURRENT_DATE)")
        )
    engine.dispose()

    command.downgrade(alembic_config(database_url), "0003")
    with engine.connect() as conn:
        assert "api_tokens" not in inspect(conn).get_table_names()
        assert "created_by" not in {c["name"] for c in inspect(conn).get_columns("searches")}
        assert conn.execute(text("SELECT count(*) FROM candidates")).scalar() == 1
    engine.dispose()
    command.upgrade(alembic_config(database_url), "head")  # and up again


def test_lease_migration_gives_stranded_training_candidates_an_expired_lease_both_ways(
    database_url: str,
) -> None:
    command.upgrade(alembic_config(database_url), "0004")
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO searches (id, name, spec, status, progress, created_at, seq, next_seq) "
                "VALUES (1, 's', '{}', 'running', 0, CURRENT_TIMESTAMP, 1, 2)"
            )
        )
        for key, status in (("a", "training"), ("b", "done")):
            conn.execute(
                text(
                    "INSERT INTO candidates (search_id, seq, genome, canonical, status, metrics, created_at,"
                    " rung) VALUES (1, 1, '{}', :key, :status, '{}', CURRENT_TIMESTAMP, 0)"
                ),
                {"key": key, "status": status},
            )
    engine.dispose()

    command.upgrade(alembic_config(database_url), "0005")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT canonical, attempt, lease_expires_at FROM candidates ORDER BY canonical")
        ).all()
        assert [(r[0], r[1], r[2] is not None) for r in rows] == [("a", 0, True), ("b", 0, False)]
    engine.dispose()

    command.downgrade(alembic_config(database_url), "0004")
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("candidates")}
        assert not {"attempt", "lease_expires_at"} & columns
        assert conn.execute(text("SELECT count(*) FROM candidates")).scalar() == 2
    engine.dispose()
    command.upgrade(alembic_config(database_url), "head")


def test_group_migration_adds_and_removes_groups_and_group_id_keeping_searches(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "0005")
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO searches (id, name, spec, status, progress, created_at, seq, next_seq) "
                "VALUES (1, 's', '{}', 'completed', 1, CURRENT_TIMESTAMP, 1, 2)"
            )
        )
    engine.dispose()

    command.upgrade(alembic_config(database_url), "0006")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT group_id FROM searches")).scalar() is None  # a lone search
        conn.execute(
            text(
                "INSERT INTO search_groups (id, name, spec, created_at) "
                "VALUES (1, 'g', '{\"repeats\": 2}', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO searches (id, name, spec, status, progress, created_at, seq, next_seq, "
                "group_id) VALUES (2, 's', '{}', 'queued', 0, CURRENT_TIMESTAMP, 1, 2, 1)"
            )
        )
        indexes = {i["name"] for i in inspect(conn).get_indexes("searches")}
        assert "ix_searches_group_id" in indexes
    engine.dispose()

    command.downgrade(alembic_config(database_url), "0005")
    with engine.connect() as conn:
        assert "group_id" not in {c["name"] for c in inspect(conn).get_columns("searches")}
        assert "search_groups" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM searches")).scalar() == 2
    engine.dispose()
    command.upgrade(alembic_config(database_url), "head")
