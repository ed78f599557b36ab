"""REST API: submitting, listing, inspecting and controlling searches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import yaml
from api_support import NB201_SPEC, Api, api_on, finish, make_api, nb201_genomes, seed_search

from backend.db import repository
from backend.db.session import session_scope
from worker.nas.spec import parse_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.yaml"))


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with api_on(request.param, tmp_path) as api:
        yield api


def test_create_search_returns_201_stores_spec_and_dispatches(api: Api) -> None:
    r = api.client.post("/api/searches", json=NB201_SPEC)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "queued"
    assert api.dispatcher.calls == [("start", body["id"])]
    detail = api.client.get(f"/api/searches/{body['id']}").json()
    assert detail["name"] == "api-test"
    assert detail["spec"]["strategy"] == NB201_SPEC["strategy"]
    assert detail["spec"]["training"]["epochs"] == 2  # defaults filled in by the spec model


def test_create_search_rejects_unknown_strategy_naming_allowed_values(api: Api) -> None:
    r = api.client.post("/api/searches", json={**NB201_SPEC, "strategy": {"type": "hill-climb"}})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["field"] == "strategy.type"
    assert "regularized-evolution" in error["allowed"] and "random" in error["allowed"]
    assert "hill-climb" in error["message"]
    assert api.client.get("/api/searches").json()["total"] == 0
    assert api.dispatcher.calls == []


def test_create_search_rejects_bad_strategy_option_naming_the_field(api: Api) -> None:
    spec = {**NB201_SPEC, "strategy": {"type": "regularized-evolution", "population_size": "many"}}
    r = api.client.post("/api/searches", json=spec)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["detail"]}
    assert fields == {"strategy.population_size"}


def test_create_search_rejects_unknown_option_listing_known_ones(api: Api) -> None:
    spec = {**NB201_SPEC, "strategy": {"type": "regularized-evolution", "popsize": 3}}
    [error] = api.client.post("/api/searches", json=spec).json()["detail"]
    assert error["field"] == "strategy.popsize"
    assert {"type", "population_size", "sample_size"} <= set(error["allowed"])


def test_create_search_rejects_bad_choice_listing_allowed_values(api: Api) -> None:
    spec = {**NB201_SPEC, "training": {"optimizer": "rmsprop"}, "dataset": {"name": "imagenet"}}
    errors = {e["field"]: e for e in api.client.post("/api/searches", json=spec).json()["detail"]}
    assert errors["training.optimizer"]["allowed"] == ["sgd", "adam", "adamw"]
    assert "fashion-mnist" in errors["dataset.name"]["allowed"]


def test_create_search_reports_range_violation_without_storing(api: Api) -> None:
    r = api.client.post("/api/searches", json={**NB201_SPEC, "parallelism": 0})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["field"] == "parallelism" and "greater than or equal to 1" in error["message"]
    assert api.client.get("/api/searches").json()["total"] == 0


def test_create_search_marks_failed_when_queue_unreachable(api: Api) -> None:
    api.dispatcher.fail = True
    r = api.client.post("/api/searches", json=NB201_SPEC)
    assert r.status_code == 503 and "queue" in r.json()["detail"]
    [item] = api.client.get("/api/searches").json()["items"]
    assert item["status"] == "failed"


def test_list_searches_filters_by_status_and_paginates(api: Api) -> None:
    ids = [api.client.post("/api/searches", json=NB201_SPEC).json()["id"] for _ in range(3)]
    api.client.post(f"/api/searches/{ids[0]}/cancel")
    page = api.client.get("/api/searches", params={"limit": 2}).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    cancelled = api.client.get("/api/searches", params={"status": "cancelled"}).json()
    assert [i["id"] for i in cancelled["items"]] == [ids[0]]
    assert cancelled["items"][0]["space"] == "nb201"
    bad = api.client.get("/api/searches", params={"status": "done"})
    assert bad.status_code == 422 and "running" in bad.json()["detail"][0]["allowed"]


def test_get_search_reports_counts_best_and_timings(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=3)
    finish(api.settings, cands[0], 0.7)
    finish(api.settings, cands[1], 0.9)
    d = api.client.get(f"/api/searches/{search_id}").json()
    assert (d["status"], d["n_candidates"], d["n_done"], d["n_failed"]) == ("running", 3, 2, 0)
    assert d["best"]["candidate_id"] == cands[1] and d["best"]["fitness"] == pytest.approx(0.9)
    assert d["progress"] == pytest.approx(0.2)  # 2 of max_candidates=10
    assert d["elapsed_seconds"] >= 0 and d["eta_seconds"] is not None
    assert d["started_at"].endswith(("Z", "+00:00"))


def test_unknown_search_returns_404(api: Api) -> None:
    for path in ("/api/searches/999", "/api/searches/999/candidates", "/api/searches/999/pareto"):
        r = api.client.get(path)
        assert r.status_code == 404 and "999" in r.json()["detail"], path


def test_candidates_after_cursor_returns_changed_not_only_new(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=3)
    first = api.client.get(f"/api/searches/{search_id}/candidates").json()
    assert [c["id"] for c in first["items"]] == cands
    assert all(c["status"] == "queued" and c["label"] for c in first["items"])
    empty = api.client.get(
        f"/api/searches/{search_id}/candidates", params={"after": first["next_after"]}
    ).json()
    assert empty == {"items": [], "next_after": first["next_after"]}
    finish(api.settings, cands[1], 0.8)
    changed = api.client.get(
        f"/api/searches/{search_id}/candidates", params={"after": first["next_after"]}
    ).json()
    [item] = changed["items"]
    assert item["id"] == cands[1] and item["status"] == "done" and item["fitness"] == pytest.approx(0.8)
    assert item["metrics"]["params"] == 1e5 and changed["next_after"] > first["next_after"]


def test_candidates_page_limit_walks_every_candidate_once(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=7)
    seen, after = [], 0
    while True:
        page = api.client.get(
            f"/api/searches/{search_id}/candidates", params={"after": after, "limit": 3}
        ).json()
        if not page["items"]:
            break
        assert len(page["items"]) <= 3
        seen += [c["id"] for c in page["items"]]
        after = page["next_after"]
    assert seen == cands


def test_pause_resume_cancel_follow_allowed_transitions(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=2)
    post = api.client.post
    assert post(f"/api/searches/{search_id}/pause").json() == {"id": search_id, "status": "paused"}
    assert post(f"/api/searches/{search_id}/pause").status_code == 409
    assert post(f"/api/searches/{search_id}/resume").json()["status"] == "running"
    assert post(f"/api/searches/{search_id}/cancel").json()["status"] == "cancelled"
    conflict = post(f"/api/searches/{search_id}/resume")
    assert conflict.status_code == 409 and "cancelled" in conflict.json()["detail"]
    assert api.dispatcher.calls == [("pause", search_id), ("resume", search_id), ("cancel", search_id)]
    items = api.client.get(f"/api/searches/{search_id}/candidates").json()["items"]
    assert {c["status"] for c in items} == {"cancelled"}  # queued candidates are cancelled with the search


def test_clone_creates_a_new_search_with_the_same_spec(api: Api) -> None:
    original = api.client.post("/api/searches", json=NB201_SPEC).json()["id"]
    r = api.client.post(f"/api/searches/{original}/clone")
    assert r.status_code == 201
    clone = api.client.get(f"/api/searches/{r.json()['id']}").json()
    assert clone["id"] != original and clone["status"] == "queued"
    assert clone["spec"]["strategy"] == NB201_SPEC["strategy"] and f"#{original}" in clone["name"]
    assert api.dispatcher.calls[-1] == ("start", clone["id"])


def test_delete_search_removes_rows_and_artefact_files(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=2)
    finish(api.settings, cands[0], 0.5)
    model = api.settings.artefact_dir / "m.onnx"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(b"onnx")
    with session_scope(api.settings, write=True) as s:
        repository.add_artefact(s, cands[0], "onnx", str(model), 4)
    assert api.client.delete(f"/api/searches/{search_id}").status_code == 204
    assert api.client.get(f"/api/searches/{search_id}").status_code == 404
    assert api.client.get(f"/api/candidates/{cands[0]}").status_code == 404
    assert not model.exists()


def test_pareto_returns_non_dominated_candidates(api: Api) -> None:
    spec = {
        **NB201_SPEC,
        "objectives": [{"metric": "val_accuracy"}, {"metric": "params", "goal": "minimize"}],
        "strategy": {"type": "random"},
    }
    search_id, cands = seed_search(api.settings, spec, n=3)
    finish(api.settings, cands[0], 0.9, params=200)
    finish(api.settings, cands[1], 0.8, params=100)
    finish(api.settings, cands[2], 0.7, params=300)  # dominated by both others
    body = api.client.get(f"/api/searches/{search_id}/pareto").json()
    assert body["objectives"] == ["val_accuracy", "params"]
    assert sorted(c["id"] for c in body["items"]) == sorted(cands[:2])
    assert len(body["all"]) == 3


def test_strategy_stats_expose_controller_steps(api: Api) -> None:
    search_id, _ = seed_search(api.settings, n=1)
    steps = [{"step": 1, "reward": 0.5, "baseline": 0.4, "entropy": 1.6}]
    with session_scope(api.settings, write=True) as s:
        repository.save_strategy_state(s, search_id, {"strategy": {"extra": {"steps": steps, "lr": 0.1}}})
    body = api.client.get(f"/api/searches/{search_id}/strategy").json()
    assert body == {"strategy": "regularized-evolution", "steps": steps, "n_told": 0, "lr": 0.1}


def test_candidates_page_fast_json_matches_the_response_model(api: Api) -> None:
    from backend.api import views
    from backend.api.schemas import CandidatePage
    from backend.db.session import session_factory

    search_id, cands = seed_search(api.settings, n=4)
    finish(api.settings, cands[2], 0.66)
    with session_scope(api.settings, write=True) as s:
        repository.finish_candidate(s, cands[3], "failed", error='bad "quote" ✗')
    body = api.client.get(f"/api/searches/{search_id}/candidates", params={"after": 0}).json()
    with session_factory(api.settings)() as s:
        rows, next_after = repository.candidates_after(s, search_id, 0, 500)
        space = views.space_for(repository.get_search(s, search_id).spec)
        slow = {"items": [views.candidate_summary(c, space) for c in rows], "next_after": next_after}
    assert body == CandidatePage.model_validate(slow).model_dump(mode="json")
    assert CandidatePage.model_validate(body).items[-1].error == 'bad "quote" ✗'


def test_search_detail_reuses_summary_until_the_search_changes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    search_id, cands = seed_search(api.settings, n=2)
    api.client.app.state.summaries.ttl = 60.0  # only the counter invalidates, not a slow run
    calls = []
    original = repository.search_summary
    monkeypatch.setattr(
        repository, "search_summary", lambda s, i, *rest: calls.append(i) or original(s, i, *rest)
    )
    for _ in range(3):
        assert api.client.get(f"/api/searches/{search_id}").json()["n_done"] == 0
    assert calls == [search_id]
    finish(api.settings, cands[0], 0.5)  # bumps the search's change counter: the cached summary is stale
    assert api.client.get(f"/api/searches/{search_id}").json()["n_done"] == 1
    assert calls == [search_id, search_id]


def test_create_search_rejects_warm_start_from_unknown_search(api: Api) -> None:
    r = api.client.post("/api/searches", json={**NB201_SPEC, "warm_start_from": 424242})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"field": "warm_start_from", "message": "no search with id 424242", "allowed": None}
    ]
    assert api.client.get("/api/searches").json()["total"] == 0


def test_candidates_page_sends_only_the_fields_asked_for(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=2)
    finish(api.settings, cands[0], 0.66, params=120)
    url = f"/api/searches/{search_id}/candidates"
    items = api.client.get(url, params={"fields": "metrics,label"}).json()["items"]
    always = ["epochs", "fitness", "id", "label", "metrics", "rung", "seq", "status"]
    assert [sorted(c) for c in items] == [always] * 2
    assert {c["id"]: c["metrics"].get("params") for c in items} == {cands[0]: 120, cands[1]: None}
    full = api.client.get(url).json()["items"]
    assert all("genome" in c and "origin" in c for c in full)


def test_candidates_page_rejects_an_unknown_field_naming_the_allowed_ones(api: Api) -> None:
    search_id, _ = seed_search(api.settings, n=1)
    res = api.client.get(f"/api/searches/{search_id}/candidates", params={"fields": "metrics,weights"})
    assert res.status_code == 422
    (err,) = res.json()["detail"]
    assert err["field"] == "fields" and "weights" in err["message"]
    assert "genome" in err["allowed"] and "metrics" in err["allowed"]


def test_objectives_without_goal_follow_the_metric_and_pareto_minimises_them(api: Api) -> None:
    spec = {**NB201_SPEC, "objectives": [{"metric": "val_loss"}, {"metric": "params"}]}
    r = api.client.post("/api/searches", json=spec)
    assert r.status_code == 201, r.text
    stored = api.client.get(f"/api/searches/{r.json()['id']}").json()["spec"]["objectives"]
    assert [o["goal"] for o in stored] == ["minimize", "minimize"]
    search_id, cands = seed_search(api.settings, spec, n=3)
    finish(api.settings, cands[0], 0.9, params=100, val_loss=0.5)
    finish(api.settings, cands[1], 0.8, params=300, val_loss=0.2)
    finish(api.settings, cands[2], 0.7, params=400, val_loss=0.6)  # dominated: bigger and worse
    body = api.client.get(f"/api/searches/{search_id}/pareto").json()
    assert sorted(c["id"] for c in body["items"]) == sorted(cands[:2])
    assert body["goals"] == ["minimize", "minimize"]


def test_pareto_on_chosen_axes_gives_their_directions_and_front(api: Api) -> None:
    spec = {**NB201_SPEC, "strategy": {"type": "random"}}
    search_id, cands = seed_search(api.settings, spec, n=3)
    finish(api.settings, cands[0], 0.9, params=200)
    finish(api.settings, cands[1], 0.8, params=100)
    finish(api.settings, cands[2], 0.7, params=300)  # dominated by both others
    url = f"/api/searches/{search_id}/pareto"
    body = api.client.get(url, params={"x": "params", "y": "fitness", "cloud": "false"}).json()
    assert body["objectives"] == ["params", "fitness"] and body["goals"] == ["minimize", "maximize"]
    assert sorted(c["id"] for c in body["items"]) == sorted(cands[:2]) and body["all"] == []
    lone = api.client.get(url, params={"x": "params"}).json()  # y: the search's own (its fitness)
    assert lone["objectives"] == ["params", "fitness"] and lone["goals"] == ["minimize", "maximize"]
    assert api.client.get(url, params={"x": "par ams", "y": "fitness"}).status_code == 422


def test_pareto_axis_goals_given_by_the_page_decide_the_front(api: Api) -> None:
    """A column with no natural direction (a table's device latency) is minimised when the page says so."""
    spec = {**NB201_SPEC, "strategy": {"type": "random"}}
    search_id, cands = seed_search(api.settings, spec, n=3)
    finish(api.settings, cands[0], 0.9, params=200, lat_ms_cpu=5.0)
    finish(api.settings, cands[1], 0.8, params=100, lat_ms_cpu=1.0)
    finish(api.settings, cands[2], 0.7, params=300, lat_ms_cpu=9.0)
    url = f"/api/searches/{search_id}/pareto"
    natural = api.client.get(url, params={"x": "lat_ms_cpu", "y": "fitness"}).json()
    assert natural["goals"] == ["maximize", "maximize"]  # by name alone a column counts as a score
    assert [c["id"] for c in natural["items"]] == [cands[0], cands[2]]
    body = api.client.get(url, params={"x": "lat_ms_cpu", "y": "fitness", "x_goal": "minimize"}).json()
    assert body["goals"] == ["minimize", "maximize"]
    assert sorted(c["id"] for c in body["items"]) == sorted(cands[:2])
    flipped = api.client.get(url, params={"x": "lat_ms_cpu", "y": "fitness", "y_goal": "minimize"}).json()
    assert flipped["goals"] == ["maximize", "minimize"] and [c["id"] for c in flipped["items"]] == [cands[2]]
    assert api.client.get(url, params={"x_goal": "smaller"}).status_code == 422


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_round_trips_through_the_api_to_the_same_search(path: Path, tmp_path: Path) -> None:
    original = parse_spec(yaml.safe_load(path.read_text()))
    if original.dataset.name == "table":  # a table is read from the server's table directory
        table = Path(original.dataset.path)  # type: ignore[arg-type]
        if not table.is_file():
            pytest.skip(f"the table {table} is not on this machine")
        api_context = nullcontext(make_api(tmp_path, table_dir=table.parent))
    else:
        api_context = api_on("sqlite", tmp_path)
    with api_context as api:
        r = api.client.post("/api/searches", json=yaml.safe_load(path.read_text()))
        assert r.status_code == 201, r.text
        stored = api.client.get(f"/api/searches/{r.json()['id']}").json()["spec"]
        assert parse_spec(stored) == original
        assert parse_spec(stored).model_dump(mode="json") == stored  # nothing left to resolve


def test_candidates_fields_pattern_in_openapi_admits_exactly_what_the_route_accepts(api: Api) -> None:
    import re

    from backend.api.searches import FIELDS_PATTERN

    params = api.client.get("/openapi.json").json()["paths"]["/api/searches/{search_id}/candidates"]["get"]
    documented = next(p for p in params["parameters"] if p["name"] == "fields")["schema"]
    assert FIELDS_PATTERN in str(documented)
    search_id, _ = seed_search(api.settings, n=1)
    url = f"/api/searches/{search_id}/candidates"
    for value in ("metrics", "metrics,label", " genome , error ,", "", ",,"):
        assert re.match(FIELDS_PATTERN, value)
        assert api.client.get(url, params={"fields": value}).status_code == 200, value
    for value in ("\x15", "metrics,bogus", "fitness"):
        assert not re.match(FIELDS_PATTERN, value)
        r = api.client.get(url, params={"fields": value})
        assert r.status_code == 422 and r.json()["detail"][0]["allowed"], value


def test_search_detail_counts_stay_exact_through_status_changes_without_rescanning(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    search_id, cands = seed_search(api.settings, n=4)
    scans: list[int] = []
    original = repository.candidate_counts
    monkeypatch.setattr(repository, "candidate_counts", lambda s, i: scans.append(i) or original(s, i))

    def counts_agree() -> dict:
        scans.clear()  # (the test's own writes may count; only the API's reads matter here)
        body = api.client.get(f"/api/searches/{search_id}").json()
        assert scans == []  # the counts came from the rows changed since, not a scan of the search
        with session_scope(api.settings) as s:
            truth = original(s, search_id)
            kept = api.client.app.state.summaries.summary(s, repository.get_search(s, search_id))
        assert kept["counts"] == truth
        assert (body["n_done"], body["n_failed"]) == (truth["done"], truth["failed"])
        assert body["n_candidates"] == sum(truth.values())
        return kept

    assert counts_agree()["counts"]["queued"] == 4
    finish(api.settings, cands[0], 0.5)
    with session_scope(api.settings, write=True) as s:
        repository.mark_training(s, cands[1], worker="w")
    with session_scope(api.settings, write=True) as s:
        repository.finish_candidate(s, cands[2], "failed", error="boom")
        repository.add_candidates(s, search_id, nb201_genomes(6)[4:])
    body = counts_agree()
    assert (body["n_done"], body["n_failed"], body["n_candidates"]) == (1, 1, 6)
    assert body["counts"]["training"] == 1 and body["counts"]["queued"] == 3
