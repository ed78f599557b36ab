"""Storage contract: the repository behaves the same on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from services import service_missing
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from backend.db import repository as repo
from backend.db.migrate import upgrade_to_head
from backend.db.session import get_engine, session_factory
from backend.settings import Settings

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_reachable() -> bool:
    try:
        with create_engine(PG_ADMIN, connect_args={"connect_timeout": 2}).connect():
            return True
    except Exception:
        return False


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("repo")
    if request.param == "sqlite":
        s = Settings(data_dir=data_dir)
        upgrade_to_head(s)
        yield s
        return
    if not _postgres_reachable():
        service_missing("PostgreSQL not reachable at 127.0.0.1:5432; storage contract ran on SQLite only")
    name = f"nasboard_repo_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    s = Settings(data_dir=data_dir, database_url=url)
    try:
        upgrade_to_head(s)
        yield s
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def session(settings: Settings) -> Iterator[Session]:
    with session_factory(settings, write=True)() as s:
        yield s
        s.rollback()


SPEC = {"name": "t", "budget": {"max_candidates": 4}, "objectives": [{"metric": "val_accuracy"}]}


def _search_with(s: Session, n: int) -> tuple[int, list[int]]:
    search = repo.create_search(s, SPEC, "t")
    repo.start_search(s, search.id)
    cands = repo.add_candidates(s, search.id, [({"g": i}, f"k{i}", None) for i in range(n)])
    s.commit()
    return search.id, [c.id for c in cands]


def test_create_search_starts_queued_and_is_listed(session: Session) -> None:
    search = repo.create_search(session, SPEC, "alpha")
    session.commit()
    assert repo.get_search(session, search.id).status == "queued"
    rows, total = repo.list_searches(session, status="queued")
    assert search.id in [r.id for r in rows] and total >= 1


def test_list_searches_rejects_unknown_status(session: Session) -> None:
    with pytest.raises(ValueError, match="status: 'bogus' is not one of queued"):
        repo.list_searches(session, status="bogus")


def test_add_candidates_skips_duplicate_canonical_keys(session: Session) -> None:
    search_id, ids = _search_with(session, 2)
    again = repo.add_candidates(session, search_id, [({"g": 0}, "k0", None), ({"g": 9}, "k9", None)])
    assert [c.canonical for c in again] == ["k9"]
    assert repo.search_summary(session, search_id)["n_candidates"] == 3


def test_candidates_after_returns_changed_rows_again_in_seq_order(session: Session) -> None:
    search_id, ids = _search_with(session, 3)
    first, cursor = repo.candidates_after(session, search_id, 0, 100)
    assert [c.id for c in first] == ids
    assert repo.candidates_after(session, search_id, cursor, 100) == ([], cursor)
    repo.mark_training(session, ids[0], "w1")
    session.commit()
    changed, cursor2 = repo.candidates_after(session, search_id, cursor, 100)
    assert [c.id for c in changed] == [ids[0]] and cursor2 > cursor
    page, nxt = repo.candidates_after(session, search_id, 0, 2)
    assert len(page) == 2 and nxt == page[-1].seq


def test_finish_candidate_is_idempotent_and_the_lifecycle_sets_best_and_progress(session: Session) -> None:
    search_id, ids = _search_with(session, 3)
    repo.finish_candidate(session, ids[0], "done", fitness=0.5, metrics={"val_accuracy": 0.5})
    repo.finish_candidate(session, ids[1], "done", fitness=0.8, metrics={"val_accuracy": 0.8})
    repo.finish_candidate(session, ids[2], "failed", error="loss became NaN")
    assert repo.get_search(session, search_id).best_candidate_id is None  # ranking is the lifecycle's
    repo.set_search_progress(session, search_id, ids[1], 0.75, "max_candidates")
    session.commit()
    assert repo.finish_candidate(session, ids[1], "done", fitness=0.1) is None
    assert repo.mark_training(session, ids[1]) is False
    summary = repo.search_summary(session, search_id)
    assert summary["best"]["candidate_id"] == ids[1] and summary["best"]["fitness"] == 0.8
    assert (summary["n_done"], summary["n_failed"]) == (2, 1)
    assert repo.get_search(session, search_id).progress == pytest.approx(0.75)
    assert repo.get_search(session, search_id).summary["stop_reason"] == "max_candidates"
    assert repo.get_candidate(session, ids[2]).error == "loss became NaN"


def test_curve_points_come_back_in_epoch_order_and_survive_a_redelivery(session: Session) -> None:
    search_id, ids = _search_with(session, 1)
    repo.mark_training(session, ids[0])
    repo.add_curve_point(session, ids[0], 2, {"val_accuracy": 0.6})
    repo.add_curve_point(session, ids[0], 1, {"val_accuracy": 0.4})
    session.commit()
    assert [p["epoch"] for p in repo.candidate_curve(session, ids[0])] == [1, 2]
    assert len(repo.get_candidate(session, ids[0]).curve) == 2
    repo.mark_training(session, ids[0])  # redelivered after a worker died: it continues from its state
    session.commit()
    assert [p["epoch"] for p in repo.candidate_curve(session, ids[0])] == [1, 2]


def test_cancel_cancels_queued_candidates_and_rejects_resume(session: Session) -> None:
    search_id, ids = _search_with(session, 2)
    repo.mark_training(session, ids[0])
    repo.set_search_status(session, search_id, "cancel")
    session.commit()
    statuses = {c.id: c.status for c in repo.candidates_after(session, search_id, 0, 10)[0]}
    assert statuses == {ids[0]: "training", ids[1]: "cancelled"}
    with pytest.raises(repo.InvalidTransition, match="cannot resume a search that is cancelled"):
        repo.set_search_status(session, search_id, "resume")


def test_pause_then_resume_round_trips(session: Session) -> None:
    search_id, _ = _search_with(session, 1)
    assert repo.set_search_status(session, search_id, "pause").status == "paused"
    assert repo.set_search_status(session, search_id, "resume").status == "running"


def test_changes_since_reports_search_status_changes(session: Session) -> None:
    search_id, _ = _search_with(session, 1)
    cursor = repo.changes_since(session, search_id, 0)["next"]
    assert repo.changes_since(session, search_id, cursor)["search"] is None
    repo.set_search_status(session, search_id, "pause")
    session.commit()
    changes = repo.changes_since(session, search_id, cursor)
    assert changes["search"].status == "paused" and changes["next"] > cursor


def test_pareto_candidates_keeps_only_non_dominated(session: Session) -> None:
    spec = {
        "objectives": [
            {"metric": "val_accuracy", "goal": "maximize"},
            {"metric": "params", "goal": "minimize"},
        ]
    }
    search = repo.create_search(session, spec, "mo")
    cands = repo.add_candidates(session, search.id, [({"g": i}, f"p{i}", None) for i in range(3)])
    points = [(0.9, 1000.0), (0.8, 500.0), (0.7, 2000.0)]  # the third is dominated by both others
    for cand, (acc, params) in zip(cands, points, strict=True):
        repo.finish_candidate(
            session, cand.id, "done", fitness=acc, metrics={"val_accuracy": acc, "params": params}
        )
    terms, front, every = repo.pareto_candidates(session, search.id)
    assert [(t.metric, t.goal) for t in terms] == [("val_accuracy", "maximize"), ("params", "minimize")]
    assert sorted(c.id for c in front) == sorted([cands[0].id, cands[1].id]) and len(every) == 3


def test_pareto_on_other_axes_takes_each_metrics_natural_direction(session: Session) -> None:
    search = repo.create_search(session, {"objectives": [{"metric": "val_accuracy"}]}, "so")
    cands = repo.add_candidates(session, search.id, [({"g": i}, f"p{i}", None) for i in range(3)])
    # (fitness, flops): the second is smaller but worse, the third dominated by the first
    for cand, (fit, flops) in zip(cands, [(0.9, 50.0), (0.8, 10.0), (0.7, 60.0)], strict=True):
        metrics = {"val_accuracy": fit, "flops": flops}
        repo.finish_candidate(session, cand.id, "done", fitness=fit, metrics=metrics)
    terms, front, _ = repo.pareto_candidates(session, search.id, axes=["flops", "fitness"])
    assert [(t.metric, t.goal) for t in terms] == [("flops", "minimize"), ("fitness", "maximize")]
    assert sorted(c.id for c in front) == [cands[0].id, cands[1].id]


def test_artefacts_are_found_by_format_and_returned_on_delete(session: Session) -> None:
    search_id, ids = _search_with(session, 1)
    repo.finish_candidate(session, ids[0], "done", fitness=1.0, artefacts={"onnx": ("/x/model.onnx", 10)})
    session.commit()
    assert repo.artefact_path(session, ids[0], "onnx") == "/x/model.onnx"
    assert repo.artefact_path(session, ids[0], "torchscript") is None
    assert repo.delete_search(session, search_id) == ["/x/model.onnx"]
    session.commit()
    with pytest.raises(repo.NotFound):
        repo.get_search(session, search_id)


def test_finish_search_keeps_cancel_over_a_racing_completion(session: Session) -> None:
    search_id, _ = _search_with(session, 1)
    repo.set_search_status(session, search_id, "cancel")
    search = repo.finish_search(session, search_id, "completed", summary={"stop_reason": "budget"})
    assert search.status == "cancelled" and search.summary == {"stop_reason": "budget"}


def test_non_finite_numbers_are_stored_as_null(session: Session) -> None:
    search_id, ids = _search_with(session, 1)
    repo.save_strategy_state(session, search_id, {"baseline": float("nan"), "steps": [float("inf"), 1.0]})
    repo.add_curve_point(session, ids[0], 1, {"train_loss": float("nan")})
    repo.finish_candidate(session, ids[0], "failed", metrics={"val_loss": float("inf")}, error="NaN loss")
    session.commit()
    session.expire_all()
    assert repo.get_search(session, search_id).strategy_state == {"baseline": None, "steps": [None, 1.0]}
    assert repo.candidate_curve(session, ids[0]) == [{"epoch": 1, "train_loss": None}]
    assert repo.get_candidate(session, ids[0]).metrics == {"val_loss": None}


def test_strategy_state_is_replaced_in_its_own_table_leaving_the_search_row_alone(
    session: Session,
) -> None:
    search_id, _ = _search_with(session, 1)
    before = repo.get_search(session, search_id)
    seq, next_seq = before.seq, before.next_seq
    assert repo.load_strategy_state(session, search_id) is None and before.strategy_state is None
    repo.save_strategy_state(session, search_id, {"history": [1]})
    repo.save_strategy_state(session, search_id, {"history": [1, 2]})  # second save replaces the first
    repo.save_strategy_state(session, 10**9, {"history": []})  # a deleted search: nothing is stored
    session.commit()
    session.expire_all()  # re-read the search row from the database
    assert repo.load_strategy_state(session, search_id) == {"history": [1, 2]}
    assert repo.load_strategy_state(session, 10**9) is None
    search = repo.get_search(session, search_id)
    assert search.strategy_state == {"history": [1, 2]}  # the model's view, read on demand
    assert (search.seq, search.next_seq) == (seq, next_seq)


def test_strategy_state_read_in_a_session_is_fresh_after_a_save(session: Session) -> None:
    search_id, _ = _search_with(session, 1)
    repo.save_strategy_state(session, search_id, {"step": 1})
    assert repo.get_search(session, search_id).strategy_state == {"step": 1}
    repo.save_strategy_state(session, search_id, {"step": 2})
    assert repo.get_search(session, search_id).strategy_state == {"step": 2}


def test_delete_search_removes_its_strategy_state(session: Session) -> None:
    search_id, _ = _search_with(session, 1)
    repo.save_strategy_state(session, search_id, {"history": [1]})
    session.commit()
    repo.delete_search(session, search_id)
    session.commit()
    assert (
        session.execute(
            text("SELECT count(*) FROM strategy_states WHERE search_id = :id"), {"id": search_id}
        ).scalar()
        == 0
    )


def test_group_members_come_back_per_group_in_seed_order_and_groups_list_newest_first(
    session: Session,
) -> None:
    group = repo.create_group(session, {**SPEC, "repeats": 2}, "g", created_by="alice")
    members = [repo.create_search(session, {**SPEC, "seed": i}, "g", group.id).id for i in (4, 5)]
    lone = repo.create_search(session, SPEC, "lone")
    other = repo.create_group(session, SPEC, "h")
    session.commit()
    found = repo.group_members(session, [group.id, other.id])
    assert [m.id for m in found[group.id]] == members and found[other.id] == []
    assert lone.group_id is None and repo.get_group(session, group.id).created_by == "alice"
    rows, total = repo.list_groups(session)
    assert [g.id for g in rows][:2] == [other.id, group.id] and total >= 2
    with pytest.raises(repo.NotFound, match="group 2147483647 not found"):
        repo.get_group(session, 2**31 - 1)


def test_evaluations_are_the_finished_candidates_in_the_order_they_finished(session: Session) -> None:
    search_id, ids = _search_with(session, 4)
    repo.finish_candidate(session, ids[2], "done", fitness=0.5, metrics={"val_accuracy": 0.5})
    session.commit()
    repo.finish_candidate(session, ids[0], "failed", error="boom")
    session.commit()
    repo.finish_candidate(session, ids[1], "done", fitness=0.7, metrics={"val_accuracy": 0.7})
    session.commit()  # ids[3] is still queued: not an evaluation
    assert repo.evaluations(session, search_id) == [
        ("done", 0.5, {"val_accuracy": 0.5}),
        ("failed", None, {}),
        ("done", 0.7, {"val_accuracy": 0.7}),
    ]
