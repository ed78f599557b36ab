"""The search page's hypervolume and parallel-coordinates charts and the group page, on a seeded group of
three multi-objective searches served in-process (nothing trains): each chart draws what the API
answered, brushing an axis filters the candidate table, and the group page draws one line per seed with
the mean, the band and the spread of the final test accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import require_browser
from .seeding import seed_group

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHART = "document.getElementById('parcoords-chart').data[0]"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict, dict]]:
    from unit.api_support import live_server, make_api

    require_browser()
    api = make_api(tmp_path_factory.mktemp("insight"))
    first = seed_group(api)
    second = seed_group(api, repeats=2, per_member=5, test_accuracy=False)
    with live_server(api) as url:
        yield url, first, second


@pytest.fixture(scope="module")
def service(seeded: tuple[str, dict, dict]) -> str:
    """The conftest's browser runs against the seeded in-process server instead of `nasboard up`."""
    return seeded[0]


def _data(page, selector: str, name: str) -> str | None:
    return page.eval_on_selector(selector, f"el => el.dataset.{name} ?? null")


def _tick_labels(page, selector: str) -> list[str]:
    """The x axis's drawn tick labels."""
    return page.eval_on_selector_all(f"{selector} .xtick text", "els => els.map(e => e.textContent)")


def _whole_numbers(page, selector: str) -> list[str]:
    """The labels an "evaluation #" axis should show: distinct whole numbers (no 1.5, no 1 twice)."""
    labels = _tick_labels(page, selector)
    assert labels and len(set(labels)) == len(labels), labels
    assert all(label.replace(",", "").lstrip("−-").isdigit() for label in labels), labels
    # Up to 10 evaluations every one gets its tick (Plotly's own step would fall on halves there).
    axis = page.eval_on_selector(selector, "el => el.layout.xaxis")
    if max(int(label.replace(",", "")) for label in labels) <= 10:
        assert (axis["tickmode"], axis["dtick"]) == ("linear", 1), axis
    return labels


def test_search_page_draws_the_servers_hypervolume_with_its_reference_point(
    page, seeded: tuple[str, dict, dict], artifacts: Path
) -> None:
    url, first, _ = seeded
    search_id = next(iter(first["members"]))
    served = page.request.get(f"{url}/api/searches/{search_id}/hypervolume").json()
    assert served["points"] and served["reference"], served
    page.goto(f"{url}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.wait_for_selector("#hypervolume-chart[data-points]", timeout=20_000)
    assert _data(page, "#hypervolume-chart", "points") == str(len(served["points"]))
    drawn = page.evaluate("document.getElementById('hypervolume-chart').data[0]")
    assert drawn["x"] == [p["evaluation"] for p in served["points"]]
    assert drawn["line"]["shape"] == "hv"
    assert _tick_labels(page, "#hypervolume-chart") == _whole_numbers(page, "#hypervolume-chart")
    note = page.inner_text("#hypervolume-note")
    assert note.startswith("Reference point: val accuracy") and "moved out by 1% of its range" in note
    assert page.get_attribute("#group-link", "href") == f"/groups/{first['group']}"
    page.locator("#hypervolume-panel").screenshot(path=str(artifacts / "hypervolume.png"))
    page.goto("about:blank")


def test_a_single_objective_search_hides_the_hypervolume_panel(page, seeded: tuple[str, dict, dict]) -> None:
    from unit.api_support import NB201_SPEC

    url = seeded[0]
    created = page.request.post(f"{url}/api/searches", data={**NB201_SPEC, "name": "single"}).json()
    page.goto(f"{url}/searches/{created['id']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.locator("#hypervolume-panel").is_hidden()
    assert page.locator("#group-link").is_hidden()
    page.goto("about:blank")


def test_brushing_parallel_coordinates_filters_the_table_and_dims_the_charts(
    page, seeded: tuple[str, dict, dict], artifacts: Path
) -> None:
    url, first, _ = seeded
    search_id = next(iter(first["members"]))
    n = len(first["members"][search_id])
    page.goto(f"{url}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    # Drawn only once scrolled into view.
    assert _data(page, "#parcoords-chart", "lines") is None
    page.locator("#parcoords-chart").scroll_into_view_if_needed()
    page.wait_for_selector("#parcoords-chart[data-dims]", timeout=20_000)
    assert _data(page, "#parcoords-chart", "lines") == str(n)
    # The space's decisions (the NB-201 edges, as the server names them), then fitness and the metrics.
    labels = page.evaluate(f"{CHART}.dimensions.map(d => d.label)")
    decisions = int(_data(page, "#parcoords-chart", "decisions"))
    assert decisions == 6 and all(label.startswith("edge ") for label in labels[:decisions])
    assert labels[decisions : decisions + 2] == ["fitness", "val accuracy"]
    assert "NASWOT score (zero-cost)" in labels
    served = page.request.get(f"{url}/api/searches/{search_id}/decisions?limit=6").json()
    first_edge = served["decisions"][0]
    ticks = page.evaluate(f"{CHART}.dimensions[0].ticktext")
    assert ticks == first_edge["choices"]
    # Drag along the fitness axis from near its top to its middle: only the fitter candidates remain.
    fit = page.evaluate(f"{CHART}.dimensions[{decisions}].values")
    box = page.locator("#parcoords-chart .axis-brush").nth(decisions).bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#brush-clear').offsetParent !== null", timeout=10_000)
    brushed = page.evaluate(f"{CHART}.dimensions[{decisions}].constraintrange")
    ranges = brushed if isinstance(brushed[0], list) else [brushed]
    expect = sum(1 for f in fit if any(a <= f <= b for a, b in ranges))
    assert 0 < expect < n
    rows = "Number(document.querySelector('#candidate-table table').dataset.rows)"
    page.wait_for_function(f"{rows} === {expect}", timeout=10_000)
    kept = page.evaluate("document.getElementById('fitness-chart').data[0].selectedpoints")
    assert len(kept) == expect
    page.locator("#parcoords-panel").screenshot(path=str(artifacts / "parcoords.png"))
    page.click("#brush-clear")
    page.wait_for_function(f"{rows} === {n}", timeout=10_000)
    assert page.evaluate("document.getElementById('fitness-chart').data[0].selectedpoints") is None
    page.goto("about:blank")


def test_scatter_charts_draw_webgl_at_screen_pixels_without_multisampling(
    page, seeded: tuple[str, dict, dict]
) -> None:
    """Fitness and Pareto clouds: no MSAA and the screen's pixel ratio (a software-composited page reads
    every WebGL frame back); parallel coordinates, with diagonal lines, keeps MSAA."""
    url, first, _ = seeded
    page.goto(f"{url}/searches/{next(iter(first['members']))}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.locator("#parcoords-chart").scroll_into_view_if_needed()
    page.wait_for_selector("#parcoords-chart[data-dims]", timeout=20_000)
    canvases = page.evaluate(
        """['fitness-chart', 'pareto-chart', 'parcoords-chart'].map((id) => {
             const c = document.querySelector(`#${id} canvas.gl-canvas-context`);
             const gl = c.getContext('webgl');
             return [id, gl.getContextAttributes().antialias, c.width / c.clientWidth];
           })"""
    )
    dpr = page.evaluate("window.devicePixelRatio")
    assert canvases == [
        ["fitness-chart", False, dpr],
        ["pareto-chart", False, dpr],
        ["parcoords-chart", True, dpr],
    ]
    page.goto("about:blank")


def test_pareto_axes_offer_the_zero_cost_proxies_against_val_accuracy(
    page, seeded: tuple[str, dict, dict]
) -> None:
    url, first, _ = seeded
    search_id = next(iter(first["members"]))
    page.goto(f"{url}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    options = page.eval_on_selector("#pareto-x", "s => [...s.options].map(o => o.value)")
    assert {"zc_naswot", "zc_synflow", "zc_grad_norm", "val_accuracy"} <= set(options)
    page.select_option("#pareto-x", "zc_naswot")
    page.select_option("#pareto-y", "val_accuracy")
    page.wait_for_function(
        "document.getElementById('pareto-chart').layout.xaxis.title.text.startsWith('NASWOT')", timeout=10_000
    )
    plotted = page.evaluate("document.getElementById('pareto-chart').data[0].x")
    assert len(plotted) == len(first["members"][search_id])
    page.goto("about:blank")


def test_group_page_draws_each_seed_the_mean_and_a_band_and_the_test_accuracy_spread(
    page, seeded: tuple[str, dict, dict], artifacts: Path
) -> None:
    url, first, _ = seeded
    group = page.request.get(f"{url}/api/groups/{first['group']}").json()
    assert group["curve"] == "hypervolume" and group["test_accuracy"]["n"] == 3
    page.goto(f"{url}/groups/{first['group']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert _data(page, "#group-chart", "members") == "3"
    assert _data(page, "#group-chart", "bands") == "1"
    assert _tick_labels(page, "#group-chart") == _whole_numbers(page, "#group-chart")
    traces = page.evaluate("document.getElementById('group-chart').data")
    band_upper, mean = traces[4], traces[5]
    seeds = [m["points"] for m in group["members"]]
    assert [len(tr["x"]) for tr in traces[:3]] == [len(p) for p in seeds] and all(seeds)
    assert band_upper["fill"] == "tonexty"
    assert mean["y"] == [b["mean"] for b in group["band"]]
    assert traces[3]["y"] == [b["mean"] - b["std"] for b in group["band"]]
    page.select_option("#group-spread", "minmax")
    lower = ",".join(_js_num(b["min"]) for b in group["band"])
    page.wait_for_function(
        f"document.getElementById('group-chart').data[3].y.join() === {lower!r}", timeout=10_000
    )
    stats = group["test_accuracy"]
    row = page.inner_text(f"#group-test tr[data-group='{first['group']}']")
    assert f"{stats['mean']:.4f}".rstrip("0") in row and "±" in row
    links = page.eval_on_selector_all("#group-members a", "as => as.map(a => a.getAttribute('href'))")
    assert links == [f"/searches/{i}" for i in first["members"]]
    page.screenshot(path=str(artifacts / "group.png"), full_page=True)


def test_two_groups_compare_on_one_chart_and_the_list_links_each(
    page, seeded: tuple[str, dict, dict]
) -> None:
    url, first, second = seeded
    page.goto(f"{url}/groups/{first['group']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.fill("#compare-ids", str(second["group"]))
    page.click("#compare-form button[type=submit]")
    page.wait_for_url(f"**/groups/compare?ids={first['group']},{second['group']}", timeout=10_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert _data(page, "#group-chart", "members") == "5"
    assert _data(page, "#group-chart", "bands") == "2"
    assert page.locator("#group-test tbody tr").count() == 2
    page.goto(f"{url}/")
    page.wait_for_selector("#group-table tbody tr[data-group]", timeout=20_000)
    links = page.eval_on_selector_all("#group-table tbody a", "as => as.map(a => a.getAttribute('href'))")
    assert links == [f"/groups/{second['group']}", f"/groups/{first['group']}"]


def _js_num(v: float) -> str:
    """A number as JavaScript's join() writes it."""
    return repr(int(v)) if float(v).is_integer() else repr(v)
