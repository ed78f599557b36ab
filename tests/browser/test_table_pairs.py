"""The front per objective pair on a finished 3-objective table search, run for real by `nasboard up` on a
small conditional table in its own NASBOARD_TABLE_DIR: one front per pair, and the device column select
redraws a pair against the other device's latency."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from unit import conditional_table

from .conftest import clean_env, nasboard, require_browser, serve

OBJECTIVES = [
    {"metric": "loss", "goal": "minimize"},
    {"metric": "lat_ms_a100", "goal": "minimize"},
    {"metric": "energy", "goal": "minimize"},
]


def write_devices_table(path: Path) -> list[dict[str, str]]:
    """conditional_table's rows with the latency on two devices: the H100 column's cost does not grow with
    width, so its front is another set of rows than the A100's."""
    rows = conditional_table.rows()
    for row in rows:
        ks = sum(int(row[f"k_{i}"] or 0) for i in range(1, conditional_table.LAYERS + 1))
        row["lat_ms_a100"] = row.pop("latency")
        row["lat_ms_h100"] = f"{(1 + ks) * 1.5 + int(row['width']) / 64:.4f}"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[str]:
    """The conftest's `nasboard up`, with the devices table in its NASBOARD_TABLE_DIR."""
    require_browser()
    tables = tmp_path_factory.mktemp("tables")
    write_devices_table(tables / "devices.csv")
    data_dir = tmp_path_factory.mktemp("nasboard-up-table")
    env = clean_env(NASBOARD_TABLE_DIR=str(tables))
    with serve(nasboard("up", "--data-dir", str(data_dir)), env, artifacts / "service-table.log") as url:
        yield url


@pytest.fixture(scope="module")
def finished(service: str) -> dict[str, Any]:
    spec = {
        "name": "browser-table-pairs",
        "dataset": {
            "name": "table",
            "path": "devices.csv",
            "arch_column": "id",
            "choice_columns": conditional_table.CHOICE_COLUMNS,
        },
        "space": {"type": "categorical"},
        "strategy": {"type": "random"},
        "objectives": OBJECTIVES,
        "budget": {"max_candidates": 24},
        "seed": 2,
    }
    r = httpx.post(f"{service}/api/searches", json=spec, timeout=10)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        search = httpx.get(f"{service}/api/searches/{r.json()['id']}", timeout=10).json()
        if search["status"] in ("completed", "failed", "cancelled"):
            assert search["status"] == "completed", search
            return search
        time.sleep(0.3)  # poll interval under the deadline
    raise AssertionError("the table search did not end within 120 s")


CHART = "document.getElementById('pairs-chart')"
TITLES = f"(() => {{ const l = {CHART}.layout; return [l.xaxis.title.text, l.yaxis.title.text]; }})()"


def served_front(service: str, search_id: int, x: str, y: str) -> int:
    params = {"x": x, "y": y, "x_goal": "minimize", "y_goal": "minimize", "cloud": "false"}
    answer = httpx.get(f"{service}/api/searches/{search_id}/pareto", params=params, timeout=10).json()
    return len(answer["items"])


def test_each_objective_pair_has_its_front_and_the_column_select_switches_the_device(
    page, service: str, finished: dict[str, Any]
) -> None:
    search_id = finished["id"]
    page.goto(f"{service}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.wait_for_selector("#pairs-panel:not(.hidden)", timeout=10_000)
    pairs = page.eval_on_selector_all("#pair-select option", "os => os.map(o => o.value)")
    assert pairs == ["0-1", "0-2", "1-2"]  # three objectives, taken two at a time
    # Drawn at the panel's width, not plotly's 700 px default for a chart first drawn while hidden.
    widths = page.evaluate(f"[{CHART}.clientWidth, {CHART}._fullLayout.width]")
    assert widths[0] == widths[1], widths

    for value in pairs:
        i, j = (int(k) for k in value.split("-"))
        x, y = OBJECTIVES[j]["metric"], OBJECTIVES[i]["metric"]
        page.select_option("#pair-select", value)
        want = served_front(service, search_id, x, y)
        assert want >= 1
        page.wait_for_function(f"{CHART}.dataset.front === '{want}'", timeout=10_000)
        titles = page.evaluate(TITLES)
        assert titles[0].startswith(x.replace("_", " ")) and titles[1].startswith(y.replace("_", " ")), titles

    # Back to (loss, A100 latency), then the same pair on the H100's column.
    page.select_option("#pair-select", "0-1")
    columns = page.eval_on_selector_all("#pair-column option", "os => os.map(o => o.value)")
    assert columns == ["lat_ms_a100", "lat_ms_h100"]  # the latency family, not every metric
    a100 = page.evaluate(f"{CHART}.data[0].x")
    page.select_option("#pair-column", "lat_ms_h100")
    want = served_front(service, search_id, "lat_ms_h100", "loss")
    page.wait_for_function(f"{CHART}.layout.xaxis.title.text.startsWith('lat ms h100')", timeout=10_000)
    page.wait_for_function(f"{CHART}.dataset.front === '{want}'", timeout=10_000)
    items = page.evaluate(
        f"fetch('/api/searches/{search_id}/candidates?after=0&limit=100').then(r => r.json())"
    )["items"]
    h100 = sorted(c["metrics"]["lat_ms_h100"] for c in items if c["status"] == "done")
    drawn = page.evaluate(f"{CHART}.data[0].x")
    assert sorted(drawn) == pytest.approx(h100) and sorted(drawn) != sorted(a100)
    assert "lower is better" in page.evaluate(TITLES)[0]  # the switched column keeps the objective's goal


# The page's fetch, with every front answer held back a second, so a switch lands while one is on its way.
SLOW_PARETO = """
const realFetch = window.fetch;
window.__pareto = [];
window.fetch = (input, init) => {
  const url = String((input && input.url) || input);
  if (!url.includes("/pareto?")) return realFetch(input, init);
  window.__pareto.push(url);
  return new Promise((done) => setTimeout(done, 1000)).then(() => realFetch(input, init));
};
"""


def test_a_column_switched_while_a_front_is_on_its_way_gets_its_own_front(
    page, service: str, finished: dict[str, Any]
) -> None:
    """The chart asks for one front at a time: a switch made while the old pair's answer is in flight used
    to leave the finished search's new pair without any front."""
    search_id = finished["id"]
    page.add_init_script(SLOW_PARETO)
    page.goto(f"{service}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.wait_for_selector("#pairs-panel:not(.hidden)", timeout=10_000)
    page.wait_for_function(f"Boolean({CHART}.dataset.front)", timeout=15_000)
    before = page.evaluate("window.__pareto.length")
    page.select_option("#pair-select", "0-2")  # a fetch for (loss, energy) starts ...
    page.select_option("#pair-column", "lat_ms_h100")  # ... and the column changes before it answers
    want = served_front(service, search_id, "lat_ms_h100", "loss")
    page.wait_for_function(f"{CHART}.dataset.front === '{want}'", timeout=15_000)
    assert page.evaluate(TITLES)[0].startswith("lat ms h100")
    asked = page.evaluate(f"window.__pareto.slice({before})")
    assert any("x=lat_ms_h100" in url for url in asked), asked
