"""`repeats: k`: one spec submitted as a group of k searches under consecutive seeds, and the group's
curves (best so far or hypervolume), their band across seeds and the spread of the final test accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import NB201_SPEC, Api, api_on, finish, make_api

from backend.db import repository
from backend.db.session import session_scope

MULTI = {**NB201_SPEC, "objectives": [{"metric": "val_accuracy"}, {"metric": "params"}]}


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


def _members(api: Api, spec: dict[str, Any]) -> tuple[int, list[int], list[int]]:
    """Submit `spec` and add three queued candidates to each member; (group id, search ids, candidates)."""
    from api_support import nb201_genomes

    created = api.client.post("/api/searches", json=spec).json()
    cands = []
    with session_scope(api.settings, write=True) as s:
        for search_id in created["search_ids"]:
            repository.start_search(s, search_id)
            cands.append([c.id for c in repository.add_candidates(s, search_id, nb201_genomes(3))])
    return created["group_id"], created["search_ids"], cands


def _test_accuracy(api: Api, search_id: int, value: float) -> None:
    with session_scope(api.settings, write=True) as s:
        repository.update_summary(s, search_id, {"best": {"candidate_id": None, "test_accuracy": value}})


def test_repeats_store_one_group_of_searches_with_consecutive_seeds_and_queue_each(api: Api) -> None:
    r = api.client.post("/api/searches", json={**NB201_SPEC, "seed": 5, "repeats": 3})
    assert r.status_code == 201
    created = r.json()
    assert created["group_id"] is not None and len(created["search_ids"]) == 3
    assert created["id"] == created["search_ids"][0]
    assert api.dispatcher.calls == [("start", i) for i in created["search_ids"]]
    details = [api.client.get(f"/api/searches/{i}").json() for i in created["search_ids"]]
    assert [(d["spec"]["seed"], d["spec"]["repeats"]) for d in details] == [(5, 1), (6, 1), (7, 1)]
    assert {d["group_id"] for d in details} == {created["group_id"]}
    group = api.client.get(f"/api/groups/{created['group_id']}").json()
    assert group["spec"]["repeats"] == 3 and group["spec"]["seed"] == 5
    assert [m["seed"] for m in group["members"]] == [5, 6, 7]
    listed = api.client.get("/api/groups").json()
    assert listed["items"][0]["search_ids"] == created["search_ids"]
    assert listed["items"][0]["statuses"] == {"queued": 3}


def test_a_lone_search_and_a_cloned_member_have_no_group(api: Api) -> None:
    lone = api.client.post("/api/searches", json=NB201_SPEC).json()
    assert lone["group_id"] is None and lone["search_ids"] == [lone["id"]]
    member = api.client.post("/api/searches", json={**NB201_SPEC, "repeats": 2}).json()["id"]
    clone = api.client.post(f"/api/searches/{member}/clone").json()
    assert clone["group_id"] is None and len(clone["search_ids"]) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"repeats": 0}, "greater than or equal to 1"),
        ({"repeats": 21}, "less than or equal to 20"),
        ({"repeats": 3, "seed": 2**32 - 2}, "largest seed"),
    ],
)
def test_repeats_out_of_range_is_422_naming_the_field_and_stores_nothing(
    api: Api, extra: dict[str, Any], message: str
) -> None:
    r = api.client.post("/api/searches", json={**NB201_SPEC, **extra})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["field"] == "repeats" and message in error["message"]
    assert api.client.get("/api/searches").json()["total"] == 0
    assert api.client.get("/api/groups").json()["total"] == 0


def test_an_unreachable_queue_fails_every_member_of_the_group(api: Api) -> None:
    api.dispatcher.fail = True
    r = api.client.post("/api/searches", json={**NB201_SPEC, "repeats": 2})
    assert r.status_code == 503
    assert [s["status"] for s in api.client.get("/api/searches").json()["items"]] == ["failed", "failed"]


def test_single_objective_group_gives_best_so_far_per_seed_a_band_and_the_test_spread(api: Api) -> None:
    group_id, searches, cands = _members(api, {**NB201_SPEC, "repeats": 2})
    for cand, acc in zip(cands[0], (0.5, 0.7, 0.6), strict=True):
        finish(api.settings, cand, acc)
    for cand, acc in zip(cands[1], (0.8, 0.6), strict=False):  # the second seed finished two
        finish(api.settings, cand, acc)
    _test_accuracy(api, searches[0], 0.90)
    _test_accuracy(api, searches[1], 0.94)
    body = api.client.get(f"/api/groups/{group_id}").json()
    assert body["curve"] == "best_so_far" and body["reference"] is None
    first, second = body["members"]
    assert [(p["evaluation"], p["value"]) for p in first["points"]] == [(1, 0.5), (2, 0.7), (3, 0.7)]
    assert [(p["evaluation"], p["value"]) for p in second["points"]] == [(1, 0.8), (2, 0.8)]
    assert (first["n_evaluations"], first["test_accuracy"]) == (3, 0.90)
    band = {p["evaluation"]: p for p in body["band"]}
    assert band[1]["mean"] == pytest.approx(0.65) and (band[1]["min"], band[1]["max"]) == (0.5, 0.8)
    assert band[1]["std"] == pytest.approx(0.212132, abs=1e-6)  # sample std of 0.5 and 0.8
    assert band[2]["mean"] == pytest.approx(0.75) and band[3]["n"] == 1
    spread = body["test_accuracy"]
    assert spread["n"] == 2 and spread["mean"] == pytest.approx(0.92)
    assert spread["std"] == pytest.approx(0.028284, abs=1e-6) and (spread["min"], spread["max"]) == (
        0.90,
        0.94,
    )


def test_multi_objective_groups_compare_against_one_reference(api: Api) -> None:
    good, _, good_cands = _members(api, {**MULTI, "repeats": 2})
    poor, _, poor_cands = _members(api, {**MULTI, "repeats": 2, "seed": 10})
    for member in good_cands:
        finish(api.settings, member[0], 0.9, params=1e5)
    for member in poor_cands:
        finish(api.settings, member[0], 0.6, params=9e5)
    alone = api.client.get(f"/api/groups/{good}").json()
    assert alone["curve"] == "hypervolume" and "worst value of each objective" in alone["reference_rule"]
    both = api.client.get("/api/groups/compare", params={"ids": f"{good},{poor}"}).json()["groups"]
    assert [g["id"] for g in both] == [good, poor]
    assert both[0]["reference"] == both[1]["reference"] == pytest.approx([0.6 - 0.003, 9e5 + 8e3])
    assert both[0]["reference"] != alone["reference"]
    good_hv, poor_hv = (g["band"][-1]["mean"] for g in both)
    assert good_hv > poor_hv > 0 and both[0]["band"][-1]["std"] == 0.0


def test_compare_refuses_groups_with_other_objectives_bad_ids_and_unknown_groups(api: Api) -> None:
    multi, _, _ = _members(api, {**MULTI, "repeats": 2})
    single, _, _ = _members(api, {**NB201_SPEC, "repeats": 2})
    for ids in (f"{multi},{single}", "1;2", ""):
        r = api.client.get("/api/groups/compare", params={"ids": ids})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "query.ids"
    assert api.client.get("/api/groups/compare", params={"ids": f"{multi},999"}).status_code == 404
    assert api.client.get("/api/groups/999").status_code == 404
    assert api.client.get("/api/groups/99999999999").status_code == 404


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_a_group_round_trips_on_both_databases(db: str, tmp_path: Path) -> None:
    with api_on(db, tmp_path) as on:
        group_id, searches, cands = _members(on, {**NB201_SPEC, "repeats": 2})
        finish(on.settings, cands[1][0], 0.75)
        body = on.client.get(f"/api/groups/{group_id}").json()
        assert [m["search_id"] for m in body["members"]] == searches
        assert [m["n_evaluations"] for m in body["members"]] == [0, 1]
        assert body["band"] == [{"evaluation": 1, "n": 1, "mean": 0.75, "std": 0.0, "min": 0.75, "max": 0.75}]


def test_an_unchanged_group_is_computed_once_and_a_members_change_recomputes(api: Api) -> None:
    group_id, _, cands = _members(api, {**NB201_SPEC, "repeats": 2})
    cache = api.client.app.state.group_answers
    first = api.client.get(f"/api/groups/{group_id}").json()
    assert api.client.get(f"/api/groups/{group_id}").json() == first and cache.computed == 1
    finish(api.settings, cands[1][0], 0.7)
    again = api.client.get(f"/api/groups/{group_id}").json()
    assert cache.computed == 2 and again["members"][1]["n_evaluations"] == 1
