"""`nasboard token create/list/revoke`, and the HTTP client commands sending the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import NB201_SPEC, live_server, make_api

from backend.cli.main import main
from backend.settings import get_settings


@pytest.fixture(autouse=True)
def _restore_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`--data-dir` sets NASBOARD_DATA_DIR for the process; undo it after each test."""
    for name in ("NASBOARD_DATA_DIR", "NASBOARD_TOKEN"):
        monkeypatch.setenv(name, "")  # recorded first: delenv alone would not undo a later set
        monkeypatch.delenv(name)
    yield
    get_settings.cache_clear()


def _create(data_dir: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["token", "create", name, "--data-dir", str(data_dir)]) == 0
    return capsys.readouterr().out.splitlines()[-1]


def test_token_create_prints_token_alone_on_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _create(tmp_path / "data", "ci", capsys)
    assert len(token) >= 40 and " " not in token
    api = make_api(tmp_path, auth="required")  # the same data directory, hence the same database
    r = api.client.post("/api/searches", json=NB201_SPEC, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    assert main(["token", "create", "ci", "--data-dir", str(tmp_path / "data")]) == 1
    assert "exists already" in capsys.readouterr().err


def test_token_list_shows_names_and_use_never_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _create(tmp_path / "data", "alice", capsys)
    _create(tmp_path / "data", "bob", capsys)
    assert main(["token", "list", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "bob" in out and "never" in out
    assert token not in out


def test_token_revoke_refuses_the_token_afterwards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _create(tmp_path / "data", "alice", capsys)
    assert main(["token", "revoke", "alice", "--data-dir", str(tmp_path / "data")]) == 0
    assert main(["token", "revoke", "alice", "--data-dir", str(tmp_path / "data")]) == 1
    assert "no token named 'alice'" in capsys.readouterr().err
    api = make_api(tmp_path, auth="required")
    r = api.client.post("/api/searches", json=NB201_SPEC, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_client_sends_token_from_option_or_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _create(tmp_path / "data", "cli", capsys)
    api = make_api(tmp_path, auth="required")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(NB201_SPEC))
    with live_server(api) as url:
        assert main(["submit", str(spec), "--url", url]) == 1
        assert "HTTP 401" in (err := capsys.readouterr().err) and "NASBOARD_TOKEN" in err
        assert main(["submit", str(spec), "--url", url, "--json", "--token", token]) == 0
        search_id = json.loads(capsys.readouterr().out)["id"]
        monkeypatch.setenv("NASBOARD_TOKEN", token)
        assert main(["cancel", str(search_id), "--url", url]) == 0
        assert main(["status", str(search_id), "--url", url, "--json"]) == 0
    detail = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert detail["status"] == "cancelled" and detail["created_by"] == "cli"
