"""docker-compose.yml parses and every command it runs is a real `nasboard` sub-command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from backend.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _nasboard_commands() -> list[list[str]]:
    services = _compose()["services"]
    return [svc["command"] for svc in services.values() if svc.get("command", [None])[0] == "nasboard"]


def test_compose_has_postgres_redis_api_and_gpu_worker() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "api", "worker"} <= set(services)
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert set(_compose()["volumes"]) >= {"pgdata", "artefacts"}


def test_compose_api_runs_migrations_before_serving() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"][:2] == ["nasboard", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("command", _nasboard_commands(), ids=lambda c: " ".join(c[:2]))
def test_compose_command_is_a_real_nasboard_subcommand(command: list[str]) -> None:
    args = build_parser().parse_args(command[1:])  # argparse exits (SystemExit) on anything unknown
    assert callable(args.func)


def test_compose_service_urls_use_settings_names() -> None:
    from backend.settings import Settings

    env = _compose()["x-nasboard-env"]
    fields = {f"NASBOARD_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields


def test_dockerfile_default_command_is_a_real_nasboard_subcommand() -> None:
    import json

    line = next(x for x in (REPO / "Dockerfile").read_text().splitlines() if x.startswith("CMD "))
    command = json.loads(line[4:])
    assert command[0] == "nasboard" and callable(build_parser().parse_args(command[1:]).func)


def test_compose_publishes_the_api_on_loopback_unless_told_otherwise() -> None:
    services = _compose()["services"]
    assert services["api"]["ports"] == ["${NASBOARD_BIND:-127.0.0.1}:8000:8000"]
    assert [name for name, svc in services.items() if "ports" in svc] == ["api"]  # nothing else published


def test_ci_fails_instead_of_skipping_when_a_service_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from services import service_missing

    assert "export NASBOARD_REQUIRE_SERVICES=1" in (REPO / ".ci" / "run").read_text()
    monkeypatch.setenv("NASBOARD_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="Redis"):
        service_missing("Redis not reachable")
    monkeypatch.delenv("NASBOARD_REQUIRE_SERVICES")
    with pytest.raises(pytest.skip.Exception):
        service_missing("Redis not reachable")


def test_torch_is_in_the_worker_extra_only_and_the_api_image_is_built_without_it() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not any(dep.startswith("torch") for dep in project["dependencies"] + extras["api"])
    assert any(dep.startswith("torch") for dep in extras["worker"])
    assert "nasboard[worker]" in extras["dev"]  # `make install` keeps installing everything
    services = _compose()["services"]
    assert services["api"]["build"]["args"]["EXTRAS"] == "api"
    assert services["worker"]["build"] == "."  # the Dockerfile's default, EXTRAS=worker
    assert "ARG EXTRAS=worker" in (REPO / "Dockerfile").read_text()
