"""`nasboard submit/list/status/cancel` against a live API server (fake dispatcher, real HTTP)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from api_support import NB201_SPEC, Api, finish, live_server, make_api, seed_search

from backend.cli.main import main
from backend.db import repository
from backend.db.session import session_scope


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


def test_submit_yaml_spec_then_list_status_and_cancel(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(NB201_SPEC))
    with live_server(api) as url:
        assert main(["submit", str(spec_file), "--url", url, "--json"]) == 0
        created = json.loads(capsys.readouterr().out)
        assert created["status"] == "queued"
        assert main(["list", "--url", url]) == 0
        listing = capsys.readouterr().out
        assert "api-test" in listing and "regularized-evolution" in listing
        assert main(["status", str(created["id"]), "--url", url]) == 0
        assert f"search {created['id']} 'api-test': queued" in capsys.readouterr().out
        assert main(["cancel", str(created["id"]), "--url", url]) == 0
        assert "cancelled" in capsys.readouterr().out
        assert main(["cancel", str(created["id"]), "--url", url]) == 1
        assert "HTTP 409" in capsys.readouterr().err


def test_submit_with_repeats_prints_the_group_and_its_searches(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({**NB201_SPEC, "repeats": 3}))
    with live_server(api) as url:
        assert main(["submit", str(spec_file), "--url", url]) == 0
        out = capsys.readouterr().out
        group = api.client.get("/api/groups").json()["items"][0]
        ids = ", ".join(map(str, group["search_ids"]))
        assert out.startswith(f"group {group['id']}: searches {ids} queued")
        assert f"{url}/api/groups/{group['id']}" in out
        assert main(["status", str(group["search_ids"][1]), "--url", url]) == 0
        assert f"group: {group['id']} (one seed" in capsys.readouterr().out


def test_submit_invalid_spec_prints_fields_and_exits_2(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps({**NB201_SPEC, "training": {"optimizer": "lion"}}))
    with live_server(api) as url:
        assert main(["submit", str(spec_file), "--url", url]) == 2
    err = capsys.readouterr().err
    assert "training.optimizer" in err and "allowed: sgd, adam, adamw" in err


def test_submit_and_search_local_word_the_same_typo_the_same_way(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "typo.yaml"
    spec_file.write_text(yaml.safe_dump({**NB201_SPEC, "training": {"optimizer": "adan", "epochs": 0}}))
    with live_server(api) as url:
        assert main(["submit", str(spec_file), "--url", url]) == 2
    served = capsys.readouterr().err
    assert main(["search", str(spec_file), "--local", "--data-dir", str(tmp_path / "d")]) == 2
    local = capsys.readouterr().err
    assert local == served and "training.optimizer" in local and "training.epochs" in local


@pytest.mark.parametrize("command", [["submit", "--url", "http://127.0.0.1:9"], ["search", "--local"]])
def test_broken_yaml_is_reported_with_its_line_not_a_traceback(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "broken.yaml"
    spec_file.write_text("name: x\nspace: {type: layers\ndataset: {name: digits}\n")
    assert main([command[0], str(spec_file), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert f"{spec_file}:3:" in err and "not valid YAML" in err and "Traceback" not in err


def test_status_of_unreachable_server_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "1", "--url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach NASBoard" in capsys.readouterr().err


def test_follow_prints_results_until_the_search_completes(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    from backend.cli.client import follow

    search_id, cands = seed_search(api.settings, n=2)

    def run_search() -> None:
        finish(api.settings, cands[0], 0.61)
        finish(api.settings, cands[1], 0.72)
        with session_scope(api.settings, write=True) as s:
            repository.finish_search(s, search_id, "completed", summary=final_summary(cands[1]))

    with live_server(api) as url:
        timer = threading.Timer(0.3, run_search)
        timer.start()
        assert follow(url, search_id) == 0
        timer.join()
    out = capsys.readouterr().out
    assert f"candidate {cands[1]} done  fitness 0.7200" in out
    assert f"search {search_id} completed 100%: 2 done, 0 failed, best 0.7200" in out
    # Then what the search handed back, from the API's `result`.
    assert f"result: test accuracy 0.7012: candidate {cands[1]}" in out and "12 final epochs" in out
    with live_server(api) as url:
        assert main(["status", str(search_id), "--url", url]) == 0
    status = capsys.readouterr().out
    assert f"result: test accuracy 0.7012: candidate {cands[1]}" in status
    assert "time: 100 s (search 40 s, final 60 s; search stopped by max_candidates)" in status


def final_summary(best: int) -> dict:
    """The summary shape worker.nas.final_stage writes for a finished search."""
    return {
        "best": {
            "candidate_id": best,
            "genome": None,
            "val_accuracy": 0.72,
            "params": 1e5,
            "epochs": 2,
            "test_accuracy": 0.7012,
            "test_accuracy_std": 0.0,
        },
        "final": [
            {
                "candidate_id": best,
                "epochs": 12,
                "runs": [{"seed": 1000, "test_accuracy": 0.7012}],
                "test_accuracy": 0.7012,
                "test_accuracy_std": 0.0,
            }
        ],
        "stop_reason": "max_candidates",
        "search_seconds": 40.0,
        "final_seconds": 60.0,
        "wall_seconds": 100.0,
        "artefacts": {"onnx": "/x/model.onnx"},
    }


def test_follow_says_why_a_candidate_kept_its_lower_rung(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from backend.cli.client import _print_candidate

    row = {"id": 65, "status": "done", "fitness": 0.75, "rung": 0, "epochs": 3, "label": "P4-d32-Mr1"}
    error = "promotion to 9 epochs failed: time limit: training exceeded max_seconds=4.9 during epoch 4"
    _print_candidate({**row, "error": error}, sys.stdout)
    _print_candidate({**row, "error": None}, sys.stdout)
    kept, plain = capsys.readouterr().out.splitlines()
    assert kept.startswith("  candidate 65 done  fitness 0.7500  P4-d32-Mr1") and kept.endswith(f"({error})")
    assert plain == "  candidate 65 done  fitness 0.7500  P4-d32-Mr1"
