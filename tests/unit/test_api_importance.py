"""GET /api/searches/{id}/importance: the decisions that explain a search's fitness, from the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import NB201_SPEC, Api, api_on, finish, nb201_genomes, seed_search

from backend.api import importance
from backend.api.answer_cache import AnswerCache
from worker.nas.spaces.nb201 import NB201Space


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with api_on(request.param, tmp_path) as api:
        yield api


def planted(genome: dict) -> float:
    """A conv3x3 on edge 2→3 is all that matters (plus a little per-genome spread)."""
    ops = NB201Space().ops(genome)
    return 0.5 + 0.3 * (ops[5] == "nor_conv_3x3") + 0.001 * (ops[0] == "none")


def seeded(api: Api, n: int, finished: int) -> tuple[int, list[int]]:
    search_id, ids = seed_search(api.settings, {**NB201_SPEC, "budget": {"max_candidates": n}}, n=n)
    for (genome, _, _), cid in list(zip(nb201_genomes(n), ids, strict=True))[:finished]:
        finish(api.settings, cid, planted(genome))
    return search_id, ids


def test_too_few_finished_candidates_give_no_items_and_a_reason(api: Api) -> None:
    search_id, _ = seeded(api, 12, finished=4)
    r = api.client.get(f"/api/searches/{search_id}/importance")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"] == [] and (body["n_candidates"], body["n_finished"]) == (4, 4)
    assert "at least 10" in body["reason"]
    assert body["method"].startswith("fANOVA")


def test_the_planted_edge_comes_first_with_its_best_choice(api: Api) -> None:
    search_id, _ = seeded(api, 40, finished=40)
    body = api.client.get(f"/api/searches/{search_id}/importance").json()
    assert body["reason"] is None and body["n_candidates"] == 40
    top = body["items"][0]
    assert (top["decision"], top["best_choice"]) == ("edge 2→3", "nor_conv_3x3")
    assert top["importance"] > 0.5
    shares = [it["importance"] for it in body["items"]]
    assert shares == sorted(shares, reverse=True) and len(shares) == 6


def test_answer_is_cached_until_another_candidate_finishes(api: Api) -> None:
    search_id, ids = seeded(api, 13, finished=12)
    cache: AnswerCache = api.client.app.state.importances
    url = f"/api/searches/{search_id}/importance"
    first = api.client.get(url).json()
    assert api.client.get(url).json() == first and cache.computed == 1
    finish(api.settings, ids[12], 0.9)
    assert api.client.get(url).json()["n_candidates"] == 13 and cache.computed == 2


def test_large_search_uses_an_evenly_spaced_sample(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importance, "MAX_CANDIDATES", 10)
    search_id, _ = seeded(api, 25, finished=25)
    body = api.client.get(f"/api/searches/{search_id}/importance").json()
    assert (body["n_candidates"], body["n_finished"]) == (10, 25)
    assert body["items"] and "at most 10 done candidates" in body["method"]


def test_space_without_named_decisions_answers_a_reason(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def unnamed(self: NB201Space, genome: dict) -> dict:
        raise NotImplementedError(f"space {self.name!r} does not name its decisions")

    monkeypatch.setattr(NB201Space, "decision_features", unnamed)
    search_id, _ = seeded(api, 10, finished=10)
    body = api.client.get(f"/api/searches/{search_id}/importance").json()
    assert body["items"] == [] and "not available" in body["reason"] and "nb201" in body["reason"]


def test_unknown_search_is_404_and_the_route_is_documented(api: Api) -> None:
    assert api.client.get("/api/searches/999/importance").status_code == 404
    operation = api.client.get("/openapi.json").json()["paths"]["/api/searches/{search_id}/importance"]["get"]
    assert {"200", "404", "422"} <= set(operation["responses"])
