"""The dashboard against a real service: submit from the form, watch the search live, open a candidate,
download its ONNX file, compare candidates. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POINTS = "Number(document.getElementById('fitness-chart').dataset.points || 0)"


def _open_form(page, service: str) -> None:
    page.goto(f"{service}/new")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def test_new_search_form_is_built_from_the_api(page, service: str) -> None:
    _open_form(page, service)
    spaces = page.eval_on_selector_all("[data-path='space.type'] option", "os => os.map(o => o.value)")
    strategies = page.eval_on_selector_all("[data-path='strategy.type'] option", "os => os.map(o => o.value)")
    assert {"layers", "nb201"} <= set(spaces)
    assert "regularized-evolution" in strategies
    # Options of the chosen class appear as fields, and change with the class.
    page.select_option("[data-path='space.type']", "layers")
    layers_fields = page.eval_on_selector_all("[data-options-for='space'] [data-path]", "es => es.length")
    page.select_option("[data-path='space.type']", "nb201")
    nb201_paths = page.eval_on_selector_all(
        "[data-options-for='space'] [data-path]", "es => es.map(e => e.dataset.path)"
    )
    assert layers_fields > 0
    assert all(p.startswith("space.") for p in nb201_paths)
    spec_text = page.inner_text("#spec-text")
    assert "type: nb201" in spec_text


def test_new_search_form_shows_api_error_next_to_field(page, service: str, artifacts: Path) -> None:
    _open_form(page, service)
    page.fill("[data-path='training.epochs']", "0")
    page.click("#submit-search")
    err = page.locator("[data-error-for='training.epochs']")
    err.wait_for(state="visible", timeout=10_000)
    page.wait_for_function(
        "document.querySelector(\"[data-error-for='training.epochs']\").textContent.length > 0"
    )
    assert "greater than or equal to 1" in err.inner_text()
    assert page.url.endswith("/new")  # stayed on the form
    page.screenshot(path=str(artifacts / "new-search-422.png"), full_page=True)
    # The browser reports the 422 response itself; that one is expected here, nothing else is.
    page.console_errors[:] = [e for e in page.console_errors if "status of 422" not in e]


def test_search_from_form_updates_live_and_exports_onnx(page, service: str, artifacts: Path) -> None:
    _open_form(page, service)
    page.fill("[data-path='name']", "browser e2e")
    page.select_option("[data-path='dataset.name']", "digits")
    page.select_option("[data-path='space.type']", "layers")
    page.select_option("[data-path='strategy.type']", "random")
    page.fill("[data-path='budget.max_candidates']", "4")
    page.fill("[data-path='training.epochs']", "1")
    spec_text = page.inner_text("#spec-text")
    assert "max_candidates: 4" in spec_text and "epochs: 1" in spec_text
    page.screenshot(path=str(artifacts / "new-search.png"), full_page=True)

    page.click("#submit-search")
    page.wait_for_url(re.compile(r".*/searches/\d+$"), timeout=20_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.evaluate("window.__noReload = true")  # gone if the page reloads
    start_points = page.evaluate(POINTS)

    # Points arrive while the workers finish candidates: more than one step, same page.
    page.wait_for_function(f"{POINTS} > {start_points}", timeout=300_000)
    first = page.evaluate(POINTS)
    page.wait_for_function(f"{POINTS} >= 4", timeout=300_000)
    assert page.evaluate("window.__noReload === true")
    assert first < 4 or start_points == 0
    page.wait_for_function(
        "document.querySelector('#search-status').textContent.includes('completed')", timeout=300_000
    )
    assert page.evaluate("window.__noReload === true")
    plotted = page.evaluate("document.getElementById('fitness-chart').data[0].x.length")
    failed = page.evaluate("document.getElementById('fitness-chart').data[2].x.length")
    assert plotted + failed == 4
    assert page.evaluate("Number(document.querySelector('#candidate-table table').dataset.rows)") == 4
    # The Pareto chart draws the front the server computed for its axes, with the engine's directions.
    front = "Number(document.getElementById('pareto-chart').dataset.front)"
    page.wait_for_function(f"{front} >= 1", timeout=10_000)
    search_id = page.url.rstrip("/").split("/")[-1]
    served = page.evaluate(
        f"fetch('/api/searches/{search_id}/pareto?x=params&y=fitness&cloud=false').then(r => r.json())"
    )
    assert served["goals"] == ["minimize", "maximize"]
    # The search has ended, so the page's throttled front converges on the served one (trailing fetch).
    page.wait_for_function(f"{front} === {len(served['items'])}", timeout=10_000)
    titles = page.evaluate(
        "(() => { const l = document.getElementById('pareto-chart').layout;"
        " return [l.xaxis.title.text, l.yaxis.title.text]; })()"
    )
    assert "lower is better" in titles[0] and "higher is better" in titles[1], titles
    # What the search handed back (the final stage's pick and its test accuracy), as the API reports it.
    result = page.evaluate(f"fetch('/api/searches/{search_id}').then(r => r.json()).then(s => s.result)")
    page.wait_for_selector("#search-result:not(.hidden)", timeout=10_000)
    assert page.inner_text("#result-test") == f"{result['test_accuracy']:.4f}"
    assert f"candidate {result['candidate_id']}" in page.inner_text("#search-result")
    # ... and as deployed: int8 against fp32 in ONNX Runtime on this worker's CPU (the engine's figures)
    line = page.inner_text("#result-int8")
    speedup = page.inner_text("#result-int8-speedup")
    assert speedup.startswith(f"{result['int8_speedup']:.2f}×"), (speedup, result)
    assert f"{result['int8_accuracy']:.4f}" in line and result["cpu_features"] in line, (line, result)
    page.screenshot(path=str(artifacts / "search-page.png"), full_page=True)
    # The first read leaves the genomes out; filtering by text reads them and matches inside them
    # ("type" is in every layers genome and in no label).
    page.fill("#candidate-table [data-filter=text]", "type")
    rows = "Number(document.querySelector('#candidate-table table').dataset.rows)"
    page.wait_for_function(f"{rows} === 4", timeout=10_000)
    page.fill("#candidate-table [data-filter=text]", "")

    # The best candidate holds the exported models of the final training.
    page.click("#stat-best a")
    page.wait_for_url(re.compile(r".*/candidates/\d+$"), timeout=10_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert int(page.get_attribute("#arch-diagram", "data-nodes")) >= 3
    assert page.get_attribute("#arch-diagram", "data-kind") == "stack"
    assert int(page.get_attribute("#curve-chart", "data-traces")) >= 2
    page.screenshot(path=str(artifacts / "candidate-page.png"), full_page=True)
    onnx_button = page.locator("#downloads a[data-format='onnx']")
    page.wait_for_function(
        "!document.querySelector(\"#downloads a[data-format='onnx']\").classList.contains('disabled')",
        timeout=10_000,
    )
    with page.expect_download() as info:
        onnx_button.click()
    target = artifacts / "candidate.onnx"
    info.value.save_as(str(target))
    import onnx

    model = onnx.load(str(target))
    onnx.checker.check_model(model)
    assert model.graph.input and model.graph.output

    # Compare the four candidates: curves overlaid, one diagram each.
    ids = page.evaluate(
        "fetch(`/api/searches/${document.querySelector('#cand-sub a').href.split('/').pop()}/candidates`)"
        ".then(r => r.json()).then(p => p.items.filter(c => c.status === 'done').map(c => c.id))"
    )
    assert len(ids) >= 2
    page.goto(f"{service}/compare?ids={','.join(map(str, ids))}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.locator("#compare-diagrams [id^='arch-diagram-']").count() == len(ids)
    assert int(page.get_attribute("#curve-chart", "data-traces")) >= 2 * len(ids)
    page.screenshot(path=str(artifacts / "compare-page.png"), full_page=True)

    # The list shows the finished search.
    page.goto(service)
    page.wait_for_function("document.querySelectorAll('#search-table tbody tr[data-id]').length >= 1")
    assert "browser e2e" in page.inner_text("#search-table")
    page.screenshot(path=str(artifacts / "searches-list.png"), full_page=True)


def test_search_page_polls_when_event_stream_is_refused(page, service: str, artifacts: Path) -> None:
    spec = {
        "name": "browser polling fallback",
        "dataset": {"name": "digits"},
        "space": {"type": "layers"},
        "strategy": {"type": "random"},
        "training": {"epochs": 1},
        "budget": {"max_candidates": 3},
        "final": {"top_k": 0},
    }
    created = page.request.post(f"{service}/api/searches", data=spec)
    assert created.status == 201, created.text()
    search_id = created.json()["id"]
    # The SSE endpoint answers 503: the page must fall back to polling `?after=` and still go live.
    page.route("**/api/searches/*/events*", lambda route: route.fulfill(status=503, body="unavailable"))
    page.goto(f"{service}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.wait_for_function("window.nasboard.mode === 'polling'", timeout=15_000)
    page.evaluate("window.__noReload = true")
    page.wait_for_function(f"{POINTS} >= 3", timeout=300_000)
    page.wait_for_function(
        "document.querySelector('#search-status').textContent.includes('completed')", timeout=120_000
    )
    assert page.evaluate("window.__noReload === true")
    assert page.inner_text("#live-mode") in ("● polling", "")
    page.screenshot(path=str(artifacts / "search-page-polling.png"), full_page=True)
    # Only the refused stream may have logged errors.
    page.console_errors[:] = [e for e in page.console_errors if "503" not in e and "EventSource" not in e]


def test_candidate_page_draws_nb201_cell_with_one_labelled_edge_per_operation(
    page, service: str, artifacts: Path
) -> None:
    spec = {
        "name": "browser nb201 cell",
        "dataset": {"name": "digits"},
        "space": {"type": "nb201", "C": 8, "N": 1},
        "strategy": {"type": "random"},
        "training": {"epochs": 1},
        "budget": {"max_candidates": 2},
        "final": {"top_k": 0},
    }
    created = page.request.post(f"{service}/api/searches", data=spec)
    assert created.status == 201, created.text()
    search_id = created.json()["id"]
    page.goto(f"{service}/searches/{search_id}")
    page.wait_for_function(
        "document.querySelector('#search-status').textContent.includes('completed')", timeout=300_000
    )
    page.click("#candidate-table tbody tr[data-id] a")
    page.wait_for_url(re.compile(r".*/candidates/\d+$"), timeout=10_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    candidate = page.request.get(f"{service}/api/candidates/{page.url.rsplit('/', 1)[1]}").json()
    edges = candidate["graph"]["edges"]
    assert page.get_attribute("#arch-diagram", "data-kind") == "dag"
    assert int(page.get_attribute("#arch-diagram", "data-edges")) == len(edges)
    # Each operation is written on its edge (Plotly annotations), once per edge.
    labels = page.evaluate(
        "document.getElementById('arch-diagram').layout.annotations.map(a => a.text).filter(t => t)"
    )
    assert sorted(labels) == sorted(e["label"] for e in edges)
    page.screenshot(path=str(artifacts / "candidate-nb201.png"), full_page=True)


def test_search_page_draws_the_servers_decision_importance(page, service: str, artifacts: Path) -> None:
    spec = {
        "name": "browser decision importance",
        "dataset": {"name": "digits"},
        "space": {"type": "nb201", "C": 8, "N": 1},
        "strategy": {"type": "random"},
        "training": {"epochs": 1},
        "budget": {"max_candidates": 10},
        "final": {"top_k": 0},
    }
    created = page.request.post(f"{service}/api/searches", data=spec)
    assert created.status == 201, created.text()
    search_id = created.json()["id"]
    page.goto(f"{service}/searches/{search_id}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.wait_for_function(
        "document.querySelector('#search-status').textContent.includes('completed')", timeout=300_000
    )
    served = page.request.get(f"{service}/api/searches/{search_id}/importance").json()
    assert served["n_candidates"] == 10 and served["items"], served
    # The page draws the server's answer (one bar per decision, best and worst choice for the hover);
    # the search has ended, so its last fetch came after the last candidate.
    bars = "Number(document.getElementById('importance-chart').dataset.items || 0)"
    page.wait_for_function(f"{bars} === {len(served['items'])}", timeout=20_000)
    drawn = page.evaluate("document.getElementById('importance-chart').data[0]")
    top = served["items"][0]
    assert drawn["text"][-1] == top["decision"]  # the most important bar on top
    assert drawn["customdata"][-1] == [str(top["best_choice"]), str(top["worst_choice"])]
    last = len(drawn["x"]) - 1
    page.evaluate(f"Plotly.Fx.hover('importance-chart', [{{curveNumber: 0, pointNumber: {last}}}])")
    hover = page.locator("#importance-chart .hovertext").text_content() or ""  # SVG: no inner_text
    assert f"best: {top['best_choice']}" in hover and f"worst: {top['worst_choice']}" in hover, hover
    page.screenshot(path=str(artifacts / "search-importance.png"), full_page=True)


def test_search_page_draws_worker_timeline_and_failures_by_reason(
    page, artifacts: Path, tmp_path: Path
) -> None:
    """A seeded search (no training: the times, workers and errors are written as a history would leave
    them) on an in-process server: one timeline row per worker, one bar per started candidate, the
    failures grouped by reason, and a click on a bar opens that candidate with its full error."""
    from datetime import timedelta

    from unit.api_support import live_server, make_api, seed_search

    from backend.db.models import Candidate, utcnow
    from backend.db.session import session_scope

    api = make_api(tmp_path)
    search_id, cands = seed_search(api.settings, n=12)
    t0 = utcnow() - timedelta(minutes=10)
    workers = ["node-a:101:7", "node-a:101:8", "node-b:55:3"]
    # (worker, queued, started, finished or None: training, status, error), seconds after t0
    history = [
        (0, 0, 5, 60, "done", None),
        (1, 0, 6, 40, "failed", "time limit of 30 s reached after 34.21 s"),
        (2, 0, 9, 130, "done", None),
        (1, 0, 45, 100, "failed", "time limit of 30 s reached after 31.7 s"),
        (0, 50, 70, 200, "done", None),
        (1, 90, 110, 111, "failed", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
        (2, 120, 150, 320, "done", None),
        (1, 100, 140, 250, "failed", "time limit of 30 s reached after 30.02 s"),
        (0, 150, 240, 420, "done", None),
        (2, 300, 340, None, "training", None),
    ]
    with session_scope(api.settings, write=True) as s:
        for cid, (w, queued, start, end, status, error) in zip(cands, history, strict=False):
            cand = s.get(Candidate, cid)
            cand.worker, cand.status, cand.error, cand.attempt = workers[w], status, error, 1
            cand.created_at = t0 + timedelta(seconds=queued)
            cand.started_at = t0 + timedelta(seconds=start)
            cand.finished_at = None if end is None else t0 + timedelta(seconds=end)
            cand.fitness = 0.9 if status == "done" else None
    started = len(history)
    with live_server(api) as url:
        page.goto(f"{url}/searches/{search_id}")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        page.wait_for_function(
            f"Number(document.getElementById('timeline-chart').dataset.bars) === {started}", timeout=20_000
        )
        rows = "document.querySelectorAll('#timeline-workers tbody tr').length"
        page.wait_for_function(f"{rows} === {len(workers)}", timeout=10_000)
        assert page.evaluate(
            "document.getElementById('timeline-chart').layout.yaxis.categoryarray"
        ) == sorted(workers)
        page.wait_for_selector("#failures table.failures", timeout=10_000)
        counts = page.eval_on_selector_all("#failures tbody tr", "rs => rs.map(r => Number(r.dataset.count))")
        assert counts == [3, 1]
        assert page.locator("#failures tbody tr").first.locator("a").count() == 3
        panels = [page.locator(sel).bounding_box() for sel in ("#timeline-panel", "#failures-panel")]
        top, bottom = panels[0]["y"], panels[1]["y"] + panels[1]["height"]
        clip = {"x": panels[0]["x"], "y": top, "width": panels[0]["width"], "height": bottom - top}
        page.screenshot(path=str(artifacts / "timeline.png"), full_page=True, clip=clip)

        # Click the middle of the failed candidate's bar that ran 45 s → 100 s on the second worker.
        target = cands[3]
        page.locator("#timeline-chart").scroll_into_view_if_needed()
        mid_ms = int((t0 + timedelta(seconds=72)).timestamp() * 1000)
        x, y = page.evaluate(
            "([ms, worker]) => { const el = document.getElementById('timeline-chart');"
            " const fl = el._fullLayout, r = el.getBoundingClientRect();"
            " return [r.left + fl.xaxis._offset + fl.xaxis.d2p(ms),"
            " r.top + fl.yaxis._offset + fl.yaxis.d2p(worker)]; }",
            [mid_ms, workers[1]],
        )
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.wait_for_url(re.compile(rf".*/candidates/{target}$"), timeout=10_000)
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert page.inner_text("#cand-error") == "time limit of 30 s reached after 31.7 s"
        assert page.inner_text("#cand-error-title") == "Why it failed"
        page.goto("about:blank")  # close the page's event stream before the server stops
