"""The search page's latency-predictor panel on seeded searches served in-process (nothing trains): it
draws the server's predicted-against-measured points with the y = x line and the ±10 % band and states the
summary figures; a search that timed no latency shows no panel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import require_browser
from .seeding import LATENCY_POINTS, seed_latency

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    from unit.api_support import live_server, make_api

    require_browser()
    api = make_api(tmp_path_factory.mktemp("latency"))
    searches = seed_latency(api)
    with live_server(api) as url:
        yield url, searches


@pytest.fixture(scope="module")
def service(seeded: tuple[str, dict]) -> str:
    """The conftest's browser runs against the seeded in-process server instead of `nasboard up`."""
    return seeded[0]


def test_latency_panel_draws_predicted_against_measured_with_the_band_and_summary(
    page, seeded: tuple[str, dict], artifacts: Path
) -> None:
    url, searches = seeded
    served = page.request.get(f"{url}/api/searches/{searches['predicted']}/latency-predictor").json()
    assert served["n"] == len(LATENCY_POINTS)
    page.goto(f"{url}/searches/{searches['predicted']}")
    page.wait_for_selector("#latency-chart[data-points]", timeout=30_000)
    assert page.is_visible("#latency-panel")
    band, diagonal, points = page.evaluate("document.getElementById('latency-chart').data")
    assert points["x"] == [p["measured"] for p in served["points"]]
    assert points["y"] == [p["predicted"] for p in served["points"]]
    assert diagonal["x"] == diagonal["y"]  # y = x
    lo, hi = band["x"][0], band["x"][1]
    assert band["fill"] == "toself"
    assert band["y"][:4] == pytest.approx([lo * 0.9, hi * 0.9, hi * 1.1, lo * 1.1])
    # Log-axis ticks read as the values they mark (Plotly's own label 0.2 as a bare "2").
    for axis in ("xtick", "ytick"):
        labels = page.eval_on_selector_all(f"#latency-chart .{axis} text", "ts => ts.map(t => t.textContent)")
        values = [float(v) for v in labels]
        assert len(values) >= 3 and all(lo * 0.9 <= v <= hi * 1.1 for v in values), (axis, labels)
    note = page.inner_text("#latency-note")
    assert note.startswith("5 candidates measured: 80 % of predictions within ±10 %"), note
    assert "Spearman 1" in note
    page.locator("#latency-panel").screenshot(path=str(artifacts / "latency-predictor.png"))
    page.goto("about:blank")


def test_a_search_without_latency_figures_shows_no_panel(page, seeded: tuple[str, dict]) -> None:
    url, searches = seeded
    page.goto(f"{url}/searches/{searches['unpredicted']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.is_hidden("#latency-panel")
    page.goto("about:blank")
