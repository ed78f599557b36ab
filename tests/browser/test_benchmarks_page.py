"""The benchmarks page on stored `nasboard bench tabular` runs served in-process: the runs are listed by
table and objectives, the ticked runs of one group are drawn as one mean line and band per run (legend by
strategy) with their summary, and ticking a run of another group draws that group's curve instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import require_browser
from .seeding import seed_benchmarks

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LEGEND = "Array.from(document.querySelectorAll('#bench-chart .legendtext')).map((e) => e.textContent)"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int], object]]:
    from unit.api_support import live_server, make_api

    require_browser()
    tmp = tmp_path_factory.mktemp("benchmarks")
    api = make_api(tmp)
    ids = seed_benchmarks(api, tmp)
    with live_server(api) as url:
        yield url, ids, api


@pytest.fixture(scope="module")
def service(seeded: tuple[str, dict[str, int], object]) -> str:
    """The conftest's browser runs against the seeded in-process server instead of `nasboard up`."""
    return seeded[0]


def _data(page, name: str) -> str | None:
    return page.eval_on_selector("#bench-chart", f"el => el.dataset.{name} ?? null")


def test_two_ticked_runs_are_drawn_with_a_band_each_and_summarised(
    page, seeded: tuple[str, dict[str, int], object], artifacts: Path
) -> None:
    url, ids, api = seeded
    page.goto(f"{url}/benchmarks?ids={ids['random']},{ids['rea']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert _data(page, "runs") == "2" and _data(page, "traces") == "6"  # lower edge, band, mean per run
    means = page.evaluate("document.getElementById('bench-chart').data.filter((d) => d.line.width === 3)")
    assert [m["name"] for m in means] == ["random", "regularized-evolution"]
    for mean, key in zip(means, ("random", "rea"), strict=True):
        served = api.client.get(f"/api/benchmarks/{ids[key]}").json()  # type: ignore[attr-defined]
        assert mean["y"] == [b["mean"] for b in served["band"]]  # the server's band, not recomputed
    legend = page.evaluate(LEGEND)
    assert "random" in legend and "regularized-evolution" in legend
    assert "test of the pick so far" in page.text_content("#bench-chart .ytitle")
    rows = page.locator("#bench-summary tbody tr")
    assert rows.count() == 2 and "at query 6" in page.text_content("#bench-summary thead")
    groups = page.locator("#bench-groups h3")
    assert groups.count() == 2  # one objective, and two: different groups of the same table
    page.screenshot(path=str(artifacts / "benchmarks.png"), full_page=True)


def test_ticking_a_run_of_another_group_draws_that_group_alone(
    page, seeded: tuple[str, dict[str, int], object]
) -> None:
    url, ids, _ = seeded
    page.goto(f"{url}/benchmarks?ids={ids['random']},{ids['rea']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.check(f"input[data-run='{ids['pareto']}']")
    page.wait_for_function("document.getElementById('bench-chart').dataset.runs === '1'")
    assert "hypervolume ratio" in page.text_content("#bench-chart .ytitle")
    assert not page.is_checked(f"input[data-run='{ids['random']}']")
    assert page.evaluate("new URL(location.href).searchParams.get('ids')") == str(ids["pareto"])
