"""What a newcomer trips over on the search page (issue 19 item 8): the live badge and the empty chart
while a search is queued or has ended, whole-number ticks on "evaluation #", done against the budget,
cancel and delete asking first, clone opening a pre-filled form, the CSV/JSON export of the candidate
table, and a phone-sized screen. Served in-process: searches are seeded through the repository, nothing
trains. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUDGET = 6


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from unit.api_support import make_api

    require_browser()
    return make_api(tmp_path_factory.mktemp("search-actions"))


@pytest.fixture(scope="module")
def service(api: Any) -> Iterator[str]:
    from unit.api_support import live_server

    with live_server(api) as url:
        yield url


def _stored_spec(name: str) -> dict[str, Any]:
    """A spec as the API stores it (defaults written out)."""
    from worker.nas.spec import SearchSpec

    spec = {
        "name": name,
        "space": {"type": "nb201"},
        "strategy": {"type": "random"},
        "budget": {"max_candidates": BUDGET},
        "final": {"top_k": 0},
    }
    return SearchSpec.model_validate(spec).model_dump(mode="json")


def _queued_search(api: Any, name: str, n: int = 3) -> tuple[int, list[int]]:
    from unit.api_support import nb201_genomes

    from backend.db import repository
    from backend.db.session import session_scope

    with session_scope(api.settings, write=True) as s:
        search = repository.create_search(s, _stored_spec(name), name)
        cands = repository.add_candidates(s, search.id, nb201_genomes(n, seed=search.id))
        return search.id, [c.id for c in cands]


def _start(api: Any, search_id: int) -> None:
    from backend.db import repository
    from backend.db.session import session_scope

    with session_scope(api.settings, write=True) as s:
        repository.start_search(s, search_id)


def _running_search(
    api: Any, name: str, done: int, failed: int = 0, queued: int = 1
) -> tuple[int, list[int]]:
    from unit.api_support import finish

    from backend.db import repository
    from backend.db.session import session_scope

    search_id, cands = _queued_search(api, name, n=done + failed + queued)
    _start(api, search_id)
    for i, cid in enumerate(cands[:done]):
        finish(api.settings, cid, accuracy=0.5 + 0.03 * i, params=1e4 * (i + 1))
    for cid in cands[done : done + failed]:
        with session_scope(api.settings, write=True) as s:
            repository.mark_training(s, cid, worker="test-worker")
            repository.finish_candidate(s, cid, "failed", error="RuntimeError: out of memory")
    return search_id, cands


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def _status(service: str, page, search_id: int) -> int | str:
    res = page.request.get(f"{service}/api/searches/{search_id}")
    return res.json()["status"] if res.ok else res.status


def test_empty_chart_says_why_and_the_live_badge_goes_when_the_search_ends(
    page, service: str, api: Any, artifacts: Path
) -> None:
    from unit.api_support import finish

    from backend.db import repository
    from backend.db.session import session_scope

    search_id, cands = _queued_search(api, "badge")
    _open(page, f"{service}/searches/{search_id}")
    empty = page.locator("#fitness-empty")
    assert empty.is_visible() and "waiting for a worker" in empty.inner_text()
    page.wait_for_function("document.getElementById('live-mode').textContent === '● live'", timeout=15_000)
    # Done against the budget, not against the 3 candidates created so far.
    assert page.inner_text("#stat-candidates") == f"0 done / {BUDGET}"
    page.screenshot(path=str(artifacts / "search-queued.png"), full_page=True)

    _start(api, search_id)
    page.wait_for_function(
        "document.getElementById('fitness-empty').textContent.includes('No candidate has finished yet')",
        timeout=15_000,
    )
    for i, cid in enumerate(cands[:2]):
        finish(api.settings, cid, accuracy=0.6 + 0.1 * i)
    page.wait_for_function(
        "Number(document.getElementById('fitness-chart').dataset.points) === 2", timeout=15_000
    )
    page.wait_for_selector("#fitness-empty", state="hidden", timeout=5_000)
    page.wait_for_function(f"document.getElementById('stat-candidates').textContent === '2 done / {BUDGET}'")
    # "evaluation #" counts candidates: one tick per whole number, never 0.5 (nor "1" twice).
    ticks = page.eval_on_selector_all("#fitness-chart .xtick text", "ts => ts.map(t => t.textContent)")
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks) and len(set(ticks)) == len(ticks), ticks
    assert page.inner_text("#live-mode") == "● live"

    with session_scope(api.settings, write=True) as s:
        repository.finish_search(s, search_id, "completed")
    page.wait_for_function(
        "document.getElementById('search-status').textContent.includes('completed')", timeout=15_000
    )
    assert page.inner_text("#live-mode") == ""  # an ended search is not live, whatever the stream does
    page.goto("about:blank")  # close the event stream before the server stops


def test_ticks_stay_whole_numbers_past_the_small_axis(page, service: str, api: Any) -> None:
    from unit.api_support import finish

    search_id, cands = _running_search(api, "many", done=9, queued=4)
    _open(page, f"{service}/searches/{search_id}")
    tick_texts = "ts => ts.map(t => t.textContent)"
    small = page.eval_on_selector_all("#fitness-chart .xtick text", tick_texts)
    assert small[:10] == [str(i) for i in range(10)], small  # one per evaluation
    for cid in cands[9:]:  # live: the axis passes 10 evaluations and goes back to automatic steps
        finish(api.settings, cid, accuracy=0.7)
    points = "Number(document.getElementById('fitness-chart').dataset.points)"
    page.wait_for_function(f"{points} === 13", timeout=15_000)
    page.wait_for_function("document.getElementById('fitness-chart').layout.xaxis.tickmode === 'auto'")
    ticks = page.eval_on_selector_all("#fitness-chart .xtick text", tick_texts)
    assert 3 <= len(ticks) < 13 and all(re.fullmatch(r"\d+", t) for t in ticks), ticks
    assert len(set(ticks)) == len(ticks)
    page.goto("about:blank")


def test_cancel_asks_first_and_going_back_leaves_the_search_running(page, service: str, api: Any) -> None:
    search_id, _ = _running_search(api, "cancel me", done=1)
    _open(page, f"{service}/searches/{search_id}")
    dialog = page.locator("#confirm-dialog")
    page.click("button[data-action='cancel']")
    dialog.wait_for(state="visible")
    assert "Cancel this search?" in dialog.inner_text()
    dialog.locator("button[value='back']").click()
    dialog.wait_for(state="detached")
    assert _status(service, page, search_id) == "running"

    page.click("button[data-action='cancel']")
    page.keyboard.press("Escape")  # Esc goes back too
    dialog.wait_for(state="detached")
    assert _status(service, page, search_id) == "running"

    page.click("button[data-action='cancel']")
    dialog.locator("button[value='ok']").click()
    page.wait_for_function(
        "document.getElementById('search-status').textContent.includes('cancelled')", timeout=10_000
    )
    assert _status(service, page, search_id) == "cancelled"
    page.goto("about:blank")


def test_delete_asks_first_then_removes_the_search_and_opens_the_list(page, service: str, api: Any) -> None:
    search_id, _ = _running_search(api, "delete me", done=2)
    _open(page, f"{service}/searches/{search_id}")
    dialog = page.locator("#confirm-dialog")
    page.click("button[data-action='delete']")
    dialog.wait_for(state="visible")
    assert "Delete “delete me”?" in dialog.inner_text() and "3 candidates" in dialog.inner_text()
    dialog.locator("button[value='back']").click()
    dialog.wait_for(state="detached")
    assert _status(service, page, search_id) == "running"

    page.click("button[data-action='delete']")
    dialog.locator("button[value='ok']").click()
    page.wait_for_url(re.compile(r".*/$"), timeout=10_000)
    assert _status(service, page, search_id) == 404
    page.wait_for_selector("#search-table tbody tr", timeout=10_000)
    assert "delete me" not in page.inner_text("#search-table")
    # The deleted search's own requests that were in flight may have met a 404: nothing else may fail.
    page.console_errors[:] = [e for e in page.console_errors if "status of 404" not in e]


def test_clone_opens_the_form_filled_with_the_search_spec(page, service: str, api: Any) -> None:
    search_id, _ = _running_search(api, "to clone", done=1)
    before = page.request.get(f"{service}/api/searches").json()["total"]
    _open(page, f"{service}/searches/{search_id}")
    page.click("button[data-action='clone']")
    page.wait_for_url(re.compile(rf".*/new\?from={search_id}$"), timeout=10_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.input_value("[data-path='name']") == f"to clone (clone of #{search_id})"
    assert page.input_value("[data-path='budget.max_candidates']") == str(BUDGET)
    assert page.input_value("[data-path='space.type']") == "nb201"
    assert page.input_value("[data-path='final.top_k']") == "0"
    assert page.inner_text("#form-error") == ""  # every value of the stored spec has its field
    assert f"search #{search_id}" in page.inner_text("#preset-note")
    # Nothing was submitted: the user edits first.
    assert page.request.get(f"{service}/api/searches").json()["total"] == before
    page.fill("[data-path='budget.max_candidates']", "3")
    page.click("#submit-search")
    page.wait_for_url(re.compile(r".*/searches/\d+$"), timeout=10_000)
    created = page.request.get(f"{service}/api/searches/{page.url.rsplit('/', 1)[1]}").json()
    assert created["spec"]["budget"]["max_candidates"] == 3
    assert created["spec"]["space"] == _stored_spec("x")["space"]
    page.goto("about:blank")


def test_export_downloads_every_row_the_table_keeps_as_csv_and_json(
    page, service: str, api: Any, artifacts: Path
) -> None:
    search_id, cands = _running_search(api, "export", done=55, failed=2)  # more than one table page
    _open(page, f"{service}/searches/{search_id}")
    page.select_option("#candidate-table [data-filter=status]", "done")
    shown = "Number(document.querySelector('#candidate-table table').dataset.rows)"
    page.wait_for_function(f"{shown} === 55")
    assert page.locator("#candidate-table tbody tr").count() == 50  # one page in the DOM

    with page.expect_download() as info:
        page.click("#export-csv")
    assert info.value.suggested_filename == f"search-{search_id}-candidates.csv"
    target = artifacts / "export.csv"
    info.value.save_as(str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    served = {c["id"]: c for c in _all_candidates(page, service, search_id)}
    done = sorted(
        (c for c in served.values() if c["status"] == "done"), key=lambda c: (-c["fitness"], c["id"])
    )
    assert [int(r["id"]) for r in rows] == [c["id"] for c in done]  # the table's order: fitness, best first
    first = rows[0]
    assert float(first["fitness"]) == done[0]["fitness"]
    assert float(first["params"]) == done[0]["metrics"]["params"]
    assert json.loads(first["genome"]) == done[0]["genome"]  # read in full, although the page left it out
    page.wait_for_function("document.getElementById('export-note').textContent === '55 rows exported'")

    with page.expect_download() as info:
        page.click("#export-json")
    exported = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert exported == done
    page.goto("about:blank")


def _all_candidates(page, service: str, search_id: int) -> list[dict[str, Any]]:
    items, after = [], 0
    while True:
        got = page.request.get(
            f"{service}/api/searches/{search_id}/candidates?after={after}&limit=1000"
        ).json()
        if not got["items"]:
            return items
        items += got["items"]
        after = got["next_after"]


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_on_a_phone_the_toolbar_clears_the_legend_and_the_table_shows_it_scrolls(
    browser, service: str, api: Any, artifacts: Path
) -> None:
    search_id, _ = _running_search(api, "phone", done=5, failed=1)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="en-US", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _open(page, f"{service}/searches/{search_id}")
        page.wait_for_function("Number(document.getElementById('pareto-chart').dataset.front) >= 1")
        for chart in ("#fitness-chart", "#pareto-chart"):
            page.locator(chart).scroll_into_view_if_needed()
            page.locator(chart).hover(position={"x": 4, "y": 4})  # plotly shows its toolbar on hover
            bar = page.locator(f"{chart} .modebar").bounding_box()
            legend = page.locator(f"{chart} .legend").bounding_box()
            assert bar and legend, chart
            assert not _overlap(bar, legend), (chart, bar, legend)
            plot = page.locator(f"{chart} .main-svg").first.bounding_box()
            assert bar["y"] + bar["height"] <= plot["y"] + 1, (chart, bar, plot)  # above the plot
            if chart == "#fitness-chart":
                page.locator(chart).locator("xpath=..").screenshot(
                    path=str(artifacts / "search-phone-chart.png")
                )
        wrap = page.locator("#candidate-table .table-wrap")
        wrap.scroll_into_view_if_needed()
        assert "right" in (wrap.get_attribute("data-scroll") or "").split()
        assert page.locator("#candidate-table .scroll-hint").is_visible()
        page.screenshot(path=str(artifacts / "search-phone.png"), full_page=False)
        wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
        page.wait_for_function(
            "(document.querySelector('#candidate-table .table-wrap').dataset.scroll || '').split(' ')"
            ".join() === 'left'"
        )
        page.goto("about:blank")
    finally:
        context.close()
    assert not errors, errors
