"""Browser tests: real headless Chromium (Debian's) driven by Playwright, against a real `nasboard up`.

The service runs in a subprocess on a fresh data directory and a free port, with its real Celery workers
on the embedded SQLite broker. Screenshots, the downloaded model and the service log are kept under
test-artifacts/browser/. Any console error or uncaught page error fails the test that caused it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from services import service_missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`nasboard up` exited early with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as res:
                if res.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"`nasboard up` did not answer {url}/healthz within {timeout:.0f} s")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def require_browser() -> None:
    """Skip (fail under NASBOARD_REQUIRE_SERVICES) without Chromium or Playwright."""
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} not found: install Debian's chromium package to run the browser tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        service_missing("playwright for Python is not installed")


def nasboard(*args: str) -> list[str]:
    return [sys.executable, "-m", "backend.cli.main", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without NASBOARD_* settings (embedded defaults), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("NASBOARD_")}, **extra}


@pytest.fixture(scope="module")  # stop the service's workers once the browser tests are done
def service(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[str]:
    """`nasboard up` (API + search worker + training worker) on embedded defaults; yields its base URL."""
    require_browser()
    data_dir = tmp_path_factory.mktemp("nasboard-up")
    with serve(nasboard("up", "--data-dir", str(data_dir)), clean_env(), artifacts / "service.log") as url:
        yield url


@contextmanager
def serve(cmd: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Run `cmd --port <free port>` until /healthz answers; yield its URL; stop it (SIGTERM) afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_healthy(url, proc, timeout=90)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the supervisor stops its API and workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


# Module scope: a sync_playwright loop left running would break asyncio.run() in the tests after these.
@pytest.fixture(scope="module")
def browser(service: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser: object, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh page that records console errors; the test fails if any appeared."""
    # English whatever the machine's locale: these tests read the page's English text.
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1360, "height": 1000}, accept_downloads=True, locale="en-US"
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert not errors, f"{request.node.name}: console errors:\n" + "\n".join(errors)
