"""REST API: one candidate's detail (graph, curve, metrics) and its model download."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api, finish, make_api, seed_search

from backend.db import repository
from backend.db.session import session_scope


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


def test_candidate_detail_has_graph_curve_and_metrics(api: Api) -> None:
    _, cands = seed_search(api.settings, n=1)
    finish(api.settings, cands[0], 0.85, epochs=3)
    d = api.client.get(f"/api/candidates/{cands[0]}").json()
    assert d["status"] == "done" and d["fitness"] == pytest.approx(0.85)
    assert d["graph"]["kind"] == "cell"
    assert len(d["graph"]["nodes"]) == 4 and all("label" in e for e in d["graph"]["edges"])
    assert [p["epoch"] for p in d["curve"]] == [1, 2, 3]
    assert d["curve"][-1]["val_accuracy"] == pytest.approx(0.85)
    assert {"train_loss", "val_loss", "val_f1", "seconds"} <= set(d["curve"][0])
    assert d["metrics"]["val_accuracy"] == pytest.approx(0.85)
    assert d["label"].startswith("|") and d["genome"]["arch"] == d["label"]
    assert d["worker"] == "test-worker" and d["artefacts"] == []


def test_failed_candidate_detail_carries_its_reason(api: Api) -> None:
    _, cands = seed_search(api.settings, n=1)
    with session_scope(api.settings, write=True) as s:
        repository.finish_candidate(s, cands[0], "failed", error="CUDA out of memory")
    d = api.client.get(f"/api/candidates/{cands[0]}").json()
    assert (d["status"], d["error"], d["fitness"]) == ("failed", "CUDA out of memory", None)


def test_model_download_serves_the_stored_file(api: Api) -> None:
    _, cands = seed_search(api.settings, n=1)
    finish(api.settings, cands[0], 0.8)
    path = api.settings.artefact_dir / "c1" / "model.onnx"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x08\x07onnx-bytes")
    with session_scope(api.settings, write=True) as s:
        repository.add_artefact(s, cands[0], "onnx", str(path), path.stat().st_size)
        repository.add_artefact(s, cands[0], "checkpoint", str(path), 1)  # internal: not offered
    r = api.client.get(f"/api/candidates/{cands[0]}/model", params={"format": "onnx"})
    assert r.status_code == 200 and r.content == b"\x08\x07onnx-bytes"
    assert f'filename="candidate-{cands[0]}.onnx"' in r.headers["content-disposition"]
    assert api.client.get(f"/api/candidates/{cands[0]}").json()["artefacts"] == ["onnx"]


def test_model_download_404_names_available_formats(api: Api) -> None:
    _, cands = seed_search(api.settings, n=1)
    r = api.client.get(f"/api/candidates/{cands[0]}/model", params={"format": "torchscript"})
    assert r.status_code == 404 and "available: none" in r.json()["detail"]
    bad = api.client.get(f"/api/candidates/{cands[0]}/model", params={"format": "pickle"})
    assert bad.status_code == 422
    allowed = ["onnx", "torchscript", "state_dict", "card", "onnx_int8", "card_int8"]
    assert bad.json()["detail"][0]["allowed"] == allowed


def test_model_download_404_when_file_vanished(api: Api) -> None:
    _, cands = seed_search(api.settings, n=1)
    with session_scope(api.settings, write=True) as s:
        repository.add_artefact(s, cands[0], "state_dict", str(api.settings.artefact_dir / "gone.pth"), 10)
    r = api.client.get(f"/api/candidates/{cands[0]}/model", params={"format": "state_dict"})
    assert r.status_code == 404 and "missing" in r.json()["detail"]


def test_unknown_candidate_returns_404(api: Api) -> None:
    assert api.client.get("/api/candidates/12345").status_code == 404


def test_promoted_candidate_shows_its_rung_epochs_and_score_at_each_rung(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=1)
    finish(api.settings, cands[0], 0.85, epochs=6)
    with session_scope(api.settings, write=True) as s:
        trial = repository.trial_of(repository.get_candidate(s, cands[0]), None)
        # What the lifecycle records of a candidate that started at rung 0 and was promoted twice.
        trial.rung, trial.epochs, trial.start_rung, trial.rung_scores = 2, 6, 0, [0.7, 0.8, 0.85]
        repository.update_trial(s, trial)
    d = api.client.get(f"/api/candidates/{cands[0]}").json()
    assert (d["rung"], d["epochs"]) == (2, 6)
    assert [(r["rung"], r["fitness"]) for r in d["rungs"]] == [(0, 0.7), (1, 0.8), (2, 0.85)]
    (row,) = api.client.get(f"/api/searches/{search_id}/candidates").json()["items"]
    assert (row["rung"], row["epochs"]) == (2, 6)
