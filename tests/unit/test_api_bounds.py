"""REST API input hardening: bounded ids and cursors, finite numbers, no NUL, the dataset present on the
server, a network-size ceiling, a body limit, an honest OpenAPI document and a health probe that checks
the broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from api_support import NB201_SPEC, Api, api_on, live_server, make_api, seed_search
from test_api_events import read_events

from backend.app import create_app
from backend.db.migrate import upgrade_to_head
from backend.settings import Settings

HUGE_IDS = [2**31, 2**63, 10**30, -1, 0]


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with api_on(request.param, tmp_path) as api:
        yield api


def fields(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 422, response.text
    return {e["field"]: e for e in response.json()["detail"]}


def stored(api: Api) -> int:
    return api.client.get("/api/searches").json()["total"]


# --- ids and cursors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", HUGE_IDS)
def test_search_id_beyond_int32_is_404_not_500(api: Api, bad: int) -> None:
    c = api.client
    for response in (
        c.get(f"/api/searches/{bad}"),
        c.get(f"/api/searches/{bad}/candidates"),
        c.get(f"/api/searches/{bad}/pareto"),
        c.get(f"/api/searches/{bad}/importance"),
        c.get(f"/api/searches/{bad}/strategy"),
        c.get(f"/api/searches/{bad}/timeline"),
        c.get(f"/api/searches/{bad}/failures"),
        c.get(f"/api/searches/{bad}/events"),
        c.post(f"/api/searches/{bad}/pause"),
        c.post(f"/api/searches/{bad}/resume"),
        c.post(f"/api/searches/{bad}/cancel"),
        c.post(f"/api/searches/{bad}/clone"),
        c.delete(f"/api/searches/{bad}"),
    ):
        assert response.status_code == 404, (response.request.url, response.text)
        assert str(bad) in response.json()["detail"]


@pytest.mark.parametrize("bad", HUGE_IDS)
def test_candidate_id_beyond_int32_is_404_not_500(api: Api, bad: int) -> None:
    for path in (f"/api/candidates/{bad}", f"/api/candidates/{bad}/model"):
        assert api.client.get(path).status_code == 404


def test_id_that_is_not_an_integer_is_422_naming_it(api: Api) -> None:
    assert "path.search_id" in fields(api.client.get("/api/searches/1e3"))
    assert "path.candidate_id" in fields(api.client.get("/api/candidates/x"))


@pytest.mark.parametrize(
    "query", ["after=2147483648", "after=9223372036854775808", "after=-1", "limit=100000000000000000000"]
)
def test_candidates_cursor_beyond_int32_is_422_not_500(api: Api, query: str) -> None:
    search_id, _ = seed_search(api.settings, n=1)
    name = query.split("=")[0]
    assert f"query.{name}" in fields(api.client.get(f"/api/searches/{search_id}/candidates?{query}"))


@pytest.mark.parametrize("query", ["offset=2147483648", "offset=9223372036854775808", "limit=99999999999"])
def test_list_offset_beyond_int32_is_422_not_500(api: Api, query: str) -> None:
    assert f"query.{query.split('=')[0]}" in fields(api.client.get(f"/api/searches?{query}"))


def test_events_after_beyond_int32_is_422_before_the_stream(api: Api) -> None:
    search_id, _ = seed_search(api.settings, n=1)
    assert "query.after" in fields(api.client.get(f"/api/searches/{search_id}/events?after={2**40}"))


@pytest.mark.parametrize("header", [b"\xb2", "١٢".encode(), b"99999999999999999999", b"-3", b"7x"])
def test_last_event_id_that_is_not_a_cursor_is_ignored_not_fatal(tmp_path: Path, header: bytes) -> None:
    api = make_api(tmp_path)
    search_id, cands = seed_search(api.settings, n=2)
    with (
        live_server(api) as url,
        httpx.stream(
            "GET", f"{url}/api/searches/{search_id}/events", headers={"Last-Event-ID": header}, timeout=10
        ) as r,
    ):
        assert r.status_code == 200
        events = read_events(r, 3)  # replayed from the start, as without the header
    assert {e["data"]["id"] for e in events if e["event"] == "candidate"} == set(cands)


# --- spec values ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "patch, field",
    [
        ({"objectives": [{"weight": "Infinity"}]}, "objectives.0.weight"),
        ({"objectives": [{"baseline": "NaN"}]}, "objectives.0.baseline"),
        ({"training": {"lr": "1e999"}}, "training.lr"),
        ({"budget": {"target": "-Infinity"}}, "budget.target"),
        ({"constraints": {"max_flops": "1e999"}}, "constraints.max_flops"),
        ({"final": {"max_minutes": "NaN"}}, "final.max_minutes"),
    ],
)
def test_spec_with_infinite_weight_is_rejected_naming_the_field(
    api: Api, patch: dict[str, Any], field: str
) -> None:
    import json

    # Raw JSON, as a client sends it: 1e999 overflows to inf, NaN/Infinity are Python's extensions.
    body = json.dumps({**NB201_SPEC, **patch}).replace('"Infinity"', "Infinity").replace('"NaN"', "NaN")
    body = body.replace('"-Infinity"', "-Infinity").replace('"1e999"', "1e999")
    r = api.client.post("/api/searches", content=body, headers={"content-type": "application/json"})
    assert "finite" in fields(r)[field]["message"]
    assert stored(api) == 0


def test_space_option_that_is_not_finite_is_rejected(api: Api) -> None:
    body = '{"space": {"type": "layers", "dropout_rates": [0.1, NaN]}, "dataset": {"name": "digits"}}'
    r = api.client.post("/api/searches", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and stored(api) == 0


def test_name_with_nul_is_rejected_naming_the_field(api: Api) -> None:
    r = api.client.post("/api/searches", json={**NB201_SPEC, "name": "bad\x00name"})
    assert "NUL" in fields(r)["name"]["message"]
    assert stored(api) == 0


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"warm_start_from": 10**30}, "warm_start_from"),
        ({"warm_start_from": 2**31}, "warm_start_from"),
        ({"warm_start_from": -1}, "warm_start_from"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"final": {"epochs": 1001}}, "final.epochs"),
        ({"dataset": {"train_subset": 10**12}}, "dataset.train_subset"),
        ({"multi_fidelity": {"min_epochs": 501}}, "multi_fidelity.min_epochs"),
        ({"multi_fidelity": {"eta": 10**20}}, "multi_fidelity.eta"),
    ],
)
def test_out_of_range_integers_are_422_naming_the_field(api: Api, patch: dict[str, Any], field: str) -> None:
    assert field in fields(api.client.post("/api/searches", json={**NB201_SPEC, **patch}))
    assert stored(api) == 0


def test_largest_seed_is_accepted(api: Api) -> None:
    assert api.client.post("/api/searches", json={**NB201_SPEC, "seed": 2**32 - 1}).status_code == 201


# --- the dataset must be readable on this server -----------------------------------------------------------
@pytest.fixture()
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Api:
    from backend.api import meta

    monkeypatch.setattr(meta, "SYSTEM_DATASET_DIR", tmp_path / "no-system-datasets")
    monkeypatch.delenv("NASBOARD_DATA_DIR", raising=False)
    api = make_api(tmp_path)
    Path(api.settings.dataset_dir).mkdir(parents=True, exist_ok=True)
    return api


def submit_dataset(api: Api, dataset: dict[str, Any]) -> httpx.Response:
    return api.client.post("/api/searches", json={**NB201_SPEC, "dataset": dataset})


def write_npz(path: Path, **overrides: Any) -> Path:
    arrays = {
        "x_train": np.zeros((20, 8, 8), np.uint8),
        "y_train": np.zeros(20, np.int64),
        "x_test": np.zeros((5, 8, 8), np.uint8),
        "y_test": np.zeros(5, np.int64),
        **overrides,
    }
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_fashion_mnist_without_its_files_is_rejected_naming_the_dataset(local: Api) -> None:
    error = fields(submit_dataset(local, {"name": "fashion-mnist"}))["dataset.name"]
    assert "not available on this server" in error["message"]
    assert str(local.settings.dataset_dir) in error["message"]
    assert stored(local) == 0


def test_fashion_mnist_with_its_files_in_the_dataset_dir_is_accepted(local: Api) -> None:
    folder = Path(local.settings.dataset_dir) / "fashion-mnist"
    folder.mkdir()
    for stem, ndim in (("train-images", 3), ("train-labels", 1), ("t10k-images", 3), ("t10k-labels", 1)):
        kind = "idx3" if ndim == 3 else "idx1"
        (folder / f"{stem}-{kind}-ubyte").write_bytes(bytes([0, 0, 8, ndim]) + b"\0" * 4 * ndim)
    assert submit_dataset(local, {"name": "fashion-mnist"}).status_code == 201


def test_npz_without_path_is_rejected_naming_the_path(local: Api) -> None:
    assert "required" in fields(submit_dataset(local, {"name": "npz"}))["dataset.path"]["message"]


def test_npz_inside_the_dataset_dir_is_accepted_and_stored_resolved(local: Api) -> None:
    path = write_npz(Path(local.settings.dataset_dir) / "tiny.npz")
    r = submit_dataset(local, {"name": "npz", "path": "tiny.npz"})
    assert r.status_code == 201, r.text
    spec = local.client.get(f"/api/searches/{r.json()['id']}").json()["spec"]
    assert spec["dataset"]["path"] == str(path.resolve())


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda d: (d / "notes.npz").write_text("just text") and "notes.npz", "not a readable .npz"),
        (lambda d: write_npz(d / "short.npz", y_test=None) and "short.npz", "lacks arrays ['y_test']"),
        (lambda d: write_npz(d / "obj.npz", y_train=np.array([None] * 20)) and "obj.npz", "Python objects"),
        (lambda d: write_npz(d / "n.npz", y_train=np.zeros(3)) and "n.npz", "3 labels for 20 samples"),
        (lambda d: "missing.npz", "no such file"),
        (lambda d: (d / "folder").mkdir() or "folder", "no such file"),
    ],
)
def test_npz_that_is_not_a_usable_archive_is_rejected(local: Api, make: Any, needle: str) -> None:
    name = make(Path(local.settings.dataset_dir))
    error = fields(submit_dataset(local, {"name": "npz", "path": name}))["dataset.path"]
    assert needle in error["message"]
    assert stored(local) == 0


@pytest.mark.parametrize("path", ["/dev/zero", "/etc/passwd", "../outside.npz", "/tmp"])
def test_dataset_path_outside_dataset_dir_is_rejected(local: Api, path: str) -> None:
    write_npz(Path(local.settings.dataset_dir).parent / "outside.npz")
    for name in ("npz", "fashion-mnist"):
        error = fields(submit_dataset(local, {"name": name, "path": path}))["dataset.path"]
        assert "outside this server's dataset directory" in error["message"]
    assert stored(local) == 0


def test_dataset_path_escaping_by_symlink_is_rejected(local: Api, tmp_path: Path) -> None:
    target = write_npz(tmp_path / "elsewhere.npz")
    (Path(local.settings.dataset_dir) / "link.npz").symlink_to(target)
    error = fields(submit_dataset(local, {"name": "npz", "path": "link.npz"}))["dataset.path"]
    assert "outside" in error["message"]


def test_dataset_path_with_nul_is_rejected(local: Api) -> None:
    assert (
        "NUL"
        in fields(submit_dataset(local, {"name": "npz", "path": "a\x00.npz"}))["dataset.path"]["message"]
    )


def test_clone_of_a_spec_whose_data_is_gone_is_rejected(local: Api) -> None:
    path = write_npz(Path(local.settings.dataset_dir) / "tiny.npz")
    original = submit_dataset(local, {"name": "npz", "path": "tiny.npz"}).json()["id"]
    path.unlink()
    assert "dataset.path" in fields(local.client.post(f"/api/searches/{original}/clone"))
    assert stored(local) == 1


# --- network size ceiling ------------------------------------------------------------------------------
def test_layers_space_over_the_network_ceiling_is_rejected_with_the_figure(local: Api) -> None:
    space = {"type": "layers", "filters": [4096], "max_depth": 64, "head": "flatten"}
    error = fields(local.client.post("/api/searches", json={"space": space}))["space"]
    assert "NASBOARD_MAX_NETWORK_PARAMS" in error["message"] and "50,000,000" in error["message"]
    assert stored(local) == 0


def test_vit_space_over_a_lowered_ceiling_is_rejected(tmp_path: Path) -> None:
    api = make_api(tmp_path, max_network_params=100_000)
    r = api.client.post("/api/searches", json={"space": {"type": "vit"}})
    assert "100,000" in fields(r)["space"]["message"]
    assert (
        api.client.post(
            "/api/searches", json={"space": {"type": "vit", "dims": [16], "max_blocks": 1}}
        ).status_code
        == 201
    )


def test_network_ceiling_uses_the_space_cost_of_its_biggest_genome() -> None:
    import random

    from backend.api.network_size import largest_params
    from worker.nas.registry import space_class
    from worker.nas.types import TaskShape

    task = TaskShape((1, 28, 28))
    for name, options in (
        ("layers", {"max_depth": 4, "filters": [8, 16], "head": "flatten"}),
        ("vit", {"max_blocks": 2}),
    ):
        cls = space_class(name)
        space, rng = cls(cls.Options.model_validate(options), task), random.Random(0)
        sampled = max(space.cost(space.sample(rng))["params"] for _ in range(300))
        assert sampled <= largest_params(name, options, task)  # an upper bound of what the search builds
    assert largest_params("nb201", {}, task) is None


# --- body limit ------------------------------------------------------------------------------------------
def test_body_over_limit_is_413(tmp_path: Path) -> None:
    api = make_api(tmp_path, max_body_bytes=1000)
    r = api.client.post("/api/searches", json={**NB201_SPEC, "name": "x" * 2000})
    assert r.status_code == 413 and "NASBOARD_MAX_BODY_BYTES" in r.json()["detail"]
    assert api.client.post("/api/searches", json=NB201_SPEC).status_code == 201


def test_chunked_body_over_limit_is_413_without_reading_it_all(tmp_path: Path) -> None:
    api = make_api(tmp_path, max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        for _ in range(100):
            yield b" " * 500

    with live_server(api) as url:
        r = httpx.post(f"{url}/api/searches", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert stored(api) == 0


# --- OpenAPI --------------------------------------------------------------------------------------------
def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _conforms(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """A small JSON-schema check (objects, arrays, required keys, no unknown keys, anyOf, types)."""
    schema = _resolve(doc, schema)
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                return _conforms(doc, option, value)
            except AssertionError as exc:
                errors.append(exc)
        raise AssertionError(f"{value!r} matches none of {schema['anyOf']}: {errors}")
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict)
        assert set(schema.get("required", ())) <= set(value), (schema, value)
        assert set(value) <= set(schema.get("properties", {})), (schema, value)
        for key, item in value.items():
            _conforms(doc, schema["properties"][key], item)
    elif kind == "array":
        assert isinstance(value, list)
        for item in value:
            _conforms(doc, schema.get("items", {}), item)
    elif kind == "string":
        assert isinstance(value, str)
    elif kind == "null":
        assert value is None


def test_openapi_422_schema_matches_the_real_422_body(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    cases = [
        ("post", "/api/searches", api.client.post("/api/searches", json={"parallelism": 0})),
        ("get", "/api/searches", api.client.get("/api/searches?limit=0")),
        ("get", "/api/searches/{search_id}", api.client.get("/api/searches/abc")),
        ("get", "/api/candidates/{candidate_id}/model", api.client.get("/api/candidates/1/model?format=x")),
    ]
    for method, path, response in cases:
        assert response.status_code == 422
        declared = doc["paths"][path][method]["responses"]["422"]["content"]["application/json"]["schema"]
        _conforms(doc, declared, response.json())


def test_openapi_declares_404_on_id_routes_and_413_on_bodies(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if "{search_id}" in path or "{candidate_id}" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (method, path)
    assert "409" in doc["paths"]["/api/searches/{search_id}/pause"]["post"]["responses"]


def test_openapi_types_space_and_strategy_as_one_variant_per_plugin_with_its_options(api: Api) -> None:
    from worker.nas.registry import SPACES, STRATEGIES, space_class, strategy_class

    doc = api.client.get("/openapi.json").json()["components"]["schemas"]
    for component, names, class_of, default in (
        ("SpaceSpec", SPACES, space_class, "layers"),
        ("StrategySpec", STRATEGIES, strategy_class, "regularized-evolution"),
    ):
        variants = {v["title"]: v for v in doc[component]["oneOf"]}
        assert list(variants) == list(names)
        for name, variant in variants.items():
            assert variant["properties"]["type"] == {"const": name}
            assert set(variant["properties"]) == {"type", *class_of(name).Options.model_fields}
            assert variant["additionalProperties"] is False
            # Without `type` only the default plugin matches, as the server reads such a section.
            assert ("type" in variant.get("required", [])) == (name != default)
    # What the document allows, the server accepts: every plugin under its own name.
    for name in STRATEGIES:
        body = {"space": {"type": "layers"}, "strategy": {"type": name}, "dataset": {"name": "digits"}}
        assert api.client.post("/api/searches", json=body).status_code == 201, name


def test_body_that_is_not_utf8_json_is_the_declared_400(api: Api) -> None:
    r = api.client.post(
        "/api/searches", content=b"\x80\x81\x17{", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["detail"]


# --- health ------------------------------------------------------------------------------------------------
def health_with_broker(tmp_path: Path, broker_url: str) -> httpx.Response:
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path / "data", broker_url=broker_url)
    upgrade_to_head(settings)
    return TestClient(create_app(settings)).get("/healthz")


def test_healthz_reports_database_and_broker_ok(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    body = api.client.get("/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["broker"] == "ok"


def test_healthz_reports_broker_down(tmp_path: Path) -> None:
    broken = tmp_path / "broker.db"
    broken.write_bytes(b"this is not a sqlite database" * 100)
    for url in (f"sqla+sqlite:///{broken}", "redis://127.0.0.1:1/0", f"sqla+sqlite:///{tmp_path}/none/b.db"):
        r = health_with_broker(tmp_path, url)
        assert r.status_code == 503, url
        body = r.json()
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["broker"].startswith("error"), body


def test_healthz_answers_fast_when_the_broker_does_not(tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    # Unroutable: the connect hangs until the probe's timeout.
    assert health_with_broker(tmp_path, "redis://10.255.255.1:6379/0").status_code == 503
    assert time.monotonic() - started < 3


def test_healthz_pings_a_live_redis_broker(tmp_path: Path) -> None:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    assert health_with_broker(tmp_path, "redis://127.0.0.1:6379/0").json()["broker"] == "ok"


def test_method_not_allowed_lists_every_method_of_the_path(api: Api) -> None:
    r = api.client.request("OPTIONS", "/api/searches/1")
    assert r.status_code == 405
    assert {"GET", "DELETE"} <= {m.strip() for m in r.headers["allow"].split(",")}
