"""`GET /api/searches/{id}/decisions`: each done candidate's design decisions as the space names them,
one column of sorted choices and per-candidate codes per decision, for the parallel coordinates."""

from __future__ import annotations

from pathlib import Path

from api_support import finish, make_api, seed_search

from worker.nas.spaces.nb201 import NB201Space


def test_decisions_are_the_spaces_features_of_each_done_candidate_coded_by_sorted_choice(
    tmp_path: Path,
) -> None:
    api = make_api(tmp_path)
    search_id, cands = seed_search(api.settings, n=6)
    for i, cid in enumerate(cands[:4]):  # two stay queued: not lines of the chart
        finish(api.settings, cid, accuracy=0.5 + 0.1 * i)
    answer = api.client.get(f"/api/searches/{search_id}/decisions").json()
    assert answer["ids"] == cands[:4] and answer["reason"] is None
    genomes = {
        c["id"]: c["genome"] for c in api.client.get(f"/api/searches/{search_id}/candidates").json()["items"]
    }
    space = NB201Space()
    for column in answer["decisions"]:
        assert column["choices"] == sorted(column["choices"])
        decoded = [column["choices"][code] for code in column["codes"]]
        assert decoded == [space.decision_features(genomes[i])[column["name"]] for i in answer["ids"]]
    assert all(column["name"].startswith("edge ") for column in answer["decisions"])


def test_decisions_asked_by_name_come_in_that_order_unknown_ones_dropped_and_the_limit_caps_them(
    tmp_path: Path,
) -> None:
    api = make_api(tmp_path)
    search_id, cands = seed_search(api.settings, n=3)
    for cid in cands:
        finish(api.settings, cid, accuracy=0.7)
    url = f"/api/searches/{search_id}/decisions"
    named = api.client.get(url, params={"names": "edge 2→3,edge 0→1,no such decision"}).json()
    assert [c["name"] for c in named["decisions"]] == ["edge 2→3", "edge 0→1"]
    assert len(api.client.get(url, params={"limit": 2}).json()["decisions"]) <= 2
    assert api.client.get(url, params={"limit": 13}).status_code == 422
    assert api.client.get("/api/searches/999/decisions").status_code == 404
