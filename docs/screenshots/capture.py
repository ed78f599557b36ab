"""Regenerate the dashboard screenshots in docs/img/ from a real service and real searches.

Starts `nasboard up` on a fresh data directory, submits two small searches over the REST API (a genetic
search over the `layers` space and a random search over NB-201 cells, both training on the bundled
digits set), waits for them to finish, and photographs the pages in headless Chromium, light and dark.

    .venv/bin/python docs/screenshots/capture.py [--data-dir DIR]   # ~15 min on 2 cores; DIR keeps the
                                                                     # searches for a quicker re-shoot
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
MAX_PNG_BYTES = 200_000

SEARCHES = [
    {
        "name": "digits · layers · genetic",
        "space": {"type": "layers", "max_depth": 6},
        "strategy": {"type": "genetic", "population_size": 6, "elitism": 1},
        "dataset": {"name": "digits"},
        "training": {"epochs": 2},
        "budget": {"max_candidates": 18},
        "parallelism": 2,
        "final": {"top_k": 1},
    },
    {
        "name": "digits · nb201 · random",
        "space": {"type": "nb201", "C": 8, "N": 1},
        "strategy": {"type": "random"},
        "dataset": {"name": "digits"},
        "training": {"epochs": 2},
        "budget": {"max_candidates": 6},
        "parallelism": 2,
        "final": {"top_k": 0},
    },
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as res:
        return json.loads(res.read())


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


def _wait(url: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            _get(f"{url}/healthz")
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def _shot(page, name: str, full_page: bool = True) -> None:
    path = OUT / name
    page.screenshot(path=str(path), full_page=full_page)
    size = path.stat().st_size
    if size > MAX_PNG_BYTES:  # keep the docs light: fall back to the visible part of the page
        page.screenshot(path=str(path), full_page=False)
        size = path.stat().st_size
    print(f"{path.relative_to(ROOT)}: {size / 1000:.0f} KB")


def main() -> int:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    keep = Path(sys.argv[sys.argv.index("--data-dir") + 1]) if "--data-dir" in sys.argv else None
    with tempfile.TemporaryDirectory(prefix="nasboard-shots-") as scratch:
        tmp = str(keep.resolve()) if keep else scratch
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NASBOARD_")}
        cmd = [sys.executable, "-m", "backend.cli.main", "up", "--data-dir", tmp, "--port", str(port)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(url, 90)
            stored = {s["name"]: s["id"] for s in _get(f"{url}/api/searches")["items"]}
            ids = [stored.get(spec["name"]) or _post(f"{url}/api/searches", spec)["id"] for spec in SEARCHES]
            deadline = time.time() + 1200
            while time.time() < deadline:
                states = [_get(f"{url}/api/searches/{i}")["status"] for i in ids]
                if all(s in ("completed", "failed", "cancelled") for s in states):
                    break
                time.sleep(2)
            print("searches:", dict(zip(ids, states, strict=True)))
            best = _get(f"{url}/api/searches/{ids[0]}")["best"]["candidate_id"]
            cells = _get(f"{url}/api/searches/{ids[1]}/candidates")["items"]
            cell = max((c for c in cells if c["status"] == "done"), key=lambda c: c["fitness"])["id"]
            done = [c["id"] for c in _get(f"{url}/api/searches/{ids[0]}/candidates")["items"] if c["fitness"]]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for scheme in ("light", "dark"):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
                    page = ctx.new_page()
                    suffix = "" if scheme == "light" else "-dark"
                    page.goto(f"{url}/searches/{ids[0]}")
                    page.wait_for_selector("body[data-ready='1']")
                    # the summaries (decision importance) are asked for once the page is interactive
                    page.wait_for_selector("#importance-chart[data-items]", state="attached")
                    page.wait_for_timeout(1200)  # table and Pareto follow the fitness chart
                    _shot(page, f"search-page{suffix}.png")
                    page.goto(f"{url}/candidates/{best}")
                    page.wait_for_selector("body[data-ready='1']")
                    _shot(page, f"candidate-layers{suffix}.png")
                    if scheme == "light":
                        page.goto(f"{url}/candidates/{cell}")
                        page.wait_for_selector("body[data-ready='1']")
                        _shot(page, "candidate-nb201.png")
                        page.goto(f"{url}/compare?ids={','.join(map(str, sorted(done)[-3:]))}")
                        page.wait_for_selector("body[data-ready='1']")
                        _shot(page, "compare.png")
                        page.goto(f"{url}/new")
                        page.wait_for_selector("body[data-ready='1']")
                        _shot(page, "new-search.png", full_page=False)
                        page.goto(url)
                        page.wait_for_selector("#search-table tbody tr[data-id]")
                        _shot(page, "searches.png", full_page=False)
                    ctx.close()
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
