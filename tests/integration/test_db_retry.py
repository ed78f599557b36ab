"""A training job's writes survive the server dropping their connection (PostgreSQL's
pg_terminate_backend, as in a failover or an admin's cleanup): the write is run again on a fresh one,
once; any other error is raised at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

pytestmark = pytest.mark.integration


def _settings(postgres_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from backend.db.migrate import upgrade_to_head
    from backend.settings import Settings

    settings = Settings(database_url=postgres_url, data_dir=tmp_path)
    upgrade_to_head(settings)
    return settings


def test_a_write_whose_connection_the_server_terminates_is_run_again_and_stored_once(
    postgres_url: str, tmp_path: Path
) -> None:
    from backend.db import repository as repo
    from backend.db.session import session_scope, write_retrying

    settings = _settings(postgres_url, tmp_path)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, {"name": "retry"}, "retry").id
    tries: list[int] = []

    def rename(s: Session) -> str:
        tries.append(1)
        repo.get_search(s, search_id).name = f"renamed after {len(tries)}"
        s.flush()
        if len(tries) == 1:  # the server ends this session mid-transaction
            s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return "stored"

    assert write_retrying(settings, rename) == "stored"
    assert len(tries) == 2
    with session_scope(settings) as s:
        assert repo.get_search(s, search_id).name == "renamed after 2"


def test_a_write_that_keeps_losing_its_connection_raises_after_its_tries(
    postgres_url: str, tmp_path: Path
) -> None:
    from backend.db.session import write_retrying

    settings = _settings(postgres_url, tmp_path)
    tries: list[int] = []

    def doomed(s: Session) -> None:
        tries.append(1)
        s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    with pytest.raises(OperationalError):
        write_retrying(settings, doomed, tries=2)
    assert len(tries) == 2


def test_a_write_that_breaks_a_constraint_is_not_run_again(postgres_url: str, tmp_path: Path) -> None:
    from backend.db.models import Candidate
    from backend.db.session import write_retrying

    settings = _settings(postgres_url, tmp_path)
    tries: list[int] = []

    def orphan(s: Session) -> None:
        tries.append(1)
        s.add(Candidate(search_id=10**9, seq=0, genome={}, canonical="x"))
        s.flush()

    with pytest.raises(IntegrityError):
        write_retrying(settings, orphan)
    assert len(tries) == 1
