"""Stored tabular-benchmark runs (backend/api/benchmarks.py): validation, round trip, list, delete, tokens."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Api, api_on, make_api
from bench_support import bench_document, write_table

from backend.db import repository
from backend.db.session import session_scope
from worker.nas.bench import value_at


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The storage tests run on both databases (PostgreSQL skips where unreachable)."""
    with api_on(request.param, tmp_path) as api:
        yield api


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_table(tmp_path_factory.mktemp("bench") / "toy.csv")


@pytest.fixture(scope="module")
def single(table: Path) -> dict[str, Any]:
    return bench_document(table, "random", budget=10, repeats=4)


@pytest.fixture(scope="module")
def multi(table: Path) -> dict[str, Any]:
    return bench_document(table, "regularized-evolution", costs=("flops",), budget=12, repeats=3)


def test_stored_run_comes_back_whole_with_the_band_and_spreads_of_its_curves(
    api: Api, single: dict[str, Any]
) -> None:
    r = api.client.post("/api/benchmarks", json=single)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["url"] == f"/benchmarks?ids={created['id']}"
    got = api.client.get(f"/api/benchmarks/{created['id']}").json()
    assert got["document"] == {**single, "name": "random on toy.csv"}  # the default label
    assert got["name"] == "random on toy.csv" and got["curve"] == "report"
    finals = [run["best_report"] for run in single["runs"]]  # the report curve ends at the pick's value
    assert got["final"]["n"] == 4 and got["final"]["mean"] == pytest.approx(sum(finals) / 4)
    assert got["band"][-1]["evaluation"] == 10 and got["band"][-1]["mean"] == pytest.approx(
        got["final"]["mean"]
    )
    halves = [value_at(run["curves"]["report"], 5) for run in single["runs"]]
    assert got["half_query"] == 5 and got["half"]["mean"] == pytest.approx(sum(halves) / 4)
    assert got["half"]["min"] == min(halves) and got["half"]["max"] == max(halves)


def test_multi_objective_run_is_drawn_by_its_hypervolume_ratio(api: Api, multi: dict[str, Any]) -> None:
    run_id = api.client.post("/api/benchmarks", json=multi).json()["id"]
    got = api.client.get(f"/api/benchmarks/{run_id}").json()
    assert got["curve"] == "hypervolume_ratio"
    ratios = [run["hypervolume_ratio"] for run in multi["runs"]]
    assert got["final"]["mean"] == pytest.approx(sum(ratios) / len(ratios))
    assert all(0 < p["mean"] <= 1 for p in got["band"])


def test_list_shows_newest_first_without_curves_and_delete_removes_one(
    api: Api, single: dict[str, Any], multi: dict[str, Any]
) -> None:
    first = api.client.post("/api/benchmarks", json=single).json()["id"]
    second = api.client.post("/api/benchmarks", json={**multi, "name": "rea pareto"}).json()["id"]
    page = api.client.get("/api/benchmarks").json()
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [second, first]
    item = page["items"][0]
    assert item["name"] == "rea pareto" and item["strategy"] == "regularized-evolution"
    assert item["objectives"] == multi["objectives"] and item["table"]["rows"] == 30
    assert "document" not in item and "band" not in item
    assert api.client.delete(f"/api/benchmarks/{first}").status_code == 204
    assert api.client.get(f"/api/benchmarks/{first}").status_code == 404
    assert api.client.delete(f"/api/benchmarks/{first}").status_code == 404
    assert api.client.get("/api/benchmarks").json()["total"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(strategy="hill-climbing"), "strategy"),
        (lambda d: d.update(repeats=5), "runs"),
        (lambda d: d["runs"][1].update(queries=11), "runs.1.curves.report"),
        (lambda d: d["runs"][0]["curves"].update(report=[[3, 1.0], [2, 2.0]]), "runs.0.curves.report"),
        (lambda d: d["runs"][0]["curves"].update(hypervolume_ratio=[[10, 0.5]]), "runs.0.curves.hyper"),
        (lambda d: d.update(budget=0), "budget"),
        (lambda d: d["table"].update(file="x" * 201), "table.file"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_a_bad_document_is_refused_naming_the_field(
    api: Api, single: dict[str, Any], change: Any, field: str
) -> None:
    body = copy.deepcopy(single)
    change(body)
    r = api.client.post("/api/benchmarks", json=body)
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["detail"]]
    assert any(f.startswith(field) for f in fields), r.json()
    if field == "strategy":
        assert "random" in r.json()["detail"][0]["allowed"]
    assert api.client.get("/api/benchmarks").json()["total"] == 0


def test_out_of_range_ids_are_404(api: Api) -> None:
    for run_id in (0, 2**31, 2**70):
        assert api.client.get(f"/api/benchmarks/{run_id}").status_code == 404
        assert api.client.delete(f"/api/benchmarks/{run_id}").status_code == 404


def test_writes_need_a_token_when_auth_is_required_and_record_its_name(
    tmp_path: Path, single: dict[str, Any]
) -> None:
    secured = make_api(tmp_path, auth="required")
    with session_scope(secured.settings, write=True) as s:
        token = repository.create_token(s, "bench-bot")
    assert secured.client.post("/api/benchmarks", json=single).status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    run_id = secured.client.post("/api/benchmarks", json=single, headers=bearer).json()["id"]
    assert secured.client.get("/api/benchmarks").json()["items"][0]["created_by"] == "bench-bot"
    assert secured.client.delete(f"/api/benchmarks/{run_id}").status_code == 401
    assert secured.client.delete(f"/api/benchmarks/{run_id}", headers=bearer).status_code == 204


def test_openapi_declares_every_benchmark_response(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/benchmarks"]["post"]["responses"]) >= {"201", "400", "413", "422"}
    assert set(paths["/api/benchmarks/{run_id}"]["get"]["responses"]) >= {"200", "404", "422"}
    assert set(paths["/api/benchmarks/{run_id}"]["delete"]["responses"]) >= {"204", "404", "422"}
