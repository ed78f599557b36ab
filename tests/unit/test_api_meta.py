"""REST API: form metadata, spec schema, health, Prometheus metrics and the served pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api, finish, make_api, seed_search


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    frontend = tmp_path / "frontend"
    (frontend / "js").mkdir(parents=True)
    for page in ("index", "new", "search", "candidate", "compare"):
        (frontend / f"{page}.html").write_text(f"<title>{page}</title>")
    (frontend / "js" / "app.js").write_text("export const x = 1;")
    return make_api(tmp_path, frontend_dir=frontend)


def test_strategies_list_options_schema_and_defaults_from_the_options_model(api: Api) -> None:
    from worker.nas.registry import STRATEGIES, strategy_class

    items = {i["name"]: i for i in api.client.get("/api/strategies").json()}
    assert set(items) == set(STRATEGIES)
    evo = items["regularized-evolution"]
    options = strategy_class("regularized-evolution").Options
    assert evo["available"] and evo["defaults"] == options().model_dump(mode="json")
    assert set(evo["options"]["properties"]) == set(options.model_fields)


def test_spaces_list_registered_spaces(api: Api) -> None:
    items = {i["name"]: i for i in api.client.get("/api/spaces").json()}
    assert items["nb201"]["available"] and "properties" in items["nb201"]["options"]


def test_datasets_report_availability(api: Api) -> None:
    items = {i["name"]: i for i in api.client.get("/api/datasets").json()}
    assert set(items) == {"fashion-mnist", "mnist", "digits", "cifar10", "npz", "table"}
    assert items["digits"]["available"]
    assert not items["cifar10"]["available"] and str(api.settings.dataset_dir) in items["cifar10"]["note"]


def test_spec_schema_is_the_search_spec_json_schema(api: Api) -> None:
    schema = api.client.get("/api/spec/schema").json()
    assert {"space", "strategy", "dataset", "training", "budget"} <= set(schema["properties"])


def test_spec_examples_are_the_benchmark_specs_as_the_form_presets(api: Api) -> None:
    import yaml

    from worker.nas.spec import parse_spec

    files = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.yaml"))
    examples = api.client.get("/api/spec/examples").json()
    assert [e["file"] for e in examples] == [f.name for f in files]
    for example, path in zip(examples, files, strict=True):
        assert example["spec"] == yaml.safe_load(path.read_text())
        assert example["name"] == example["spec"]["name"] and example["description"]
        parse_spec(example["spec"])


def test_healthz_checks_the_database(api: Api) -> None:
    assert api.client.get("/healthz").json()["database"] == "ok"


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_expose_counts_and_duration_histogram_in_prometheus_format(api: Api) -> None:
    _, cands = seed_search(api.settings, n=3)
    finish(api.settings, cands[0], 0.5)
    r = api.client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE nasboard_candidates gauge" in r.text
    samples = _samples(r.text)
    assert samples['nasboard_searches{status="running"}'] == 1
    assert samples['nasboard_candidates{status="queued"}'] == 2
    assert samples['nasboard_candidates{status="done"}'] == 1
    assert samples['nasboard_candidate_duration_seconds_bucket{le="+Inf"}'] == 1
    assert samples["nasboard_candidate_duration_seconds_count"] == 1


def test_pages_and_static_files_are_served_from_the_frontend_dir(api: Api) -> None:
    for path, title in [
        ("/", "index"),
        ("/new", "new"),
        ("/searches/3", "search"),
        ("/candidates/9", "candidate"),
    ]:
        r = api.client.get(path)
        assert r.status_code == 200 and f"<title>{title}</title>" in r.text, path
    assert "compare" in api.client.get("/compare", params={"ids": "1,2"}).text
    assert api.client.get("/static/js/app.js").text == "export const x = 1;"


def test_plotly_falls_back_to_the_python_package_bundle_without_the_vendored_one(api: Api) -> None:
    r = api.client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200 and len(r.content) > 3_000_000  # the full bundle
    assert r.headers["content-type"].startswith("text/javascript")


def test_dashboard_serves_its_partial_plotly_bundle_of_the_same_version(tmp_path: Path) -> None:
    import importlib.util

    served = make_api(tmp_path).client.get("/static/vendor/plotly.min.js")  # the repository's frontend/
    assert served.status_code == 200 and "core + scattergl" in served.text[:300]
    package = Path(importlib.util.find_spec("plotly").origin).parent / "package_data" / "plotly.min.js"
    version = package.read_text()[:200].split("plotly.js v")[1].split()[0]
    assert f"plotly.js v{version} " in served.text[:300], "rebuild with scripts/plotly-bundle/build.sh"
    assert len(served.content) < 2_000_000


def test_docs_page_uses_local_swagger_assets(api: Api) -> None:
    page = api.client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert api.client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert "/api/searches/{search_id}/candidates" in api.client.get("/openapi.json").json()["paths"]


def test_spec_parse_reads_yaml_and_json_as_the_cli_does(api: Api) -> None:
    yaml_text = "name: pasted\nspace:\n  type: nb201\nbudget: {max_candidates: 5}\n"
    assert api.client.post("/api/spec/parse", json={"text": yaml_text}).json() == {
        "spec": {"name": "pasted", "space": {"type": "nb201"}, "budget": {"max_candidates": 5}},
        "error": None,
    }
    as_json = api.client.post("/api/spec/parse", json={"text": '{"name": "j", "seed": 3}'}).json()
    assert as_json["spec"] == {"name": "j", "seed": 3}


def test_spec_parse_places_a_syntax_error_at_its_line_and_column(api: Api) -> None:
    broken = "name: x\nspace:\n  type: nb201\n   C: 8\n"
    answer = api.client.post("/api/spec/parse", json={"text": broken}).json()
    assert answer["spec"] is None
    assert answer["error"] == {
        "message": "not valid YAML or JSON: mapping values are not allowed here",
        "line": 4,
        "column": 5,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "a search spec must be a mapping of fields, got list"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML or JSON: could not determine"),
    ],
)
def test_spec_parse_refuses_what_is_not_a_plain_mapping(api: Api, text: str, message: str) -> None:
    error = api.client.post("/api/spec/parse", json={"text": text}).json()["error"]
    assert error["message"].startswith(message)
