"""The dashboard against an API that wants a token for everything: it asks once, then works."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env, nasboard, require_browser, serve

pytestmark = pytest.mark.browser

SPEC = {
    "name": "browser auth",
    "space": {"type": "nb201"},
    "strategy": {"type": "random"},
    "budget": {"max_candidates": 2},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nasboard-auth")


@pytest.fixture(scope="module")
def token(data_dir: Path) -> str:
    cmd = nasboard("token", "create", "browser", "--data-dir", str(data_dir))
    out = subprocess.run(cmd, cwd=ROOT, env=clean_env(), check=True, capture_output=True, text=True).stdout
    return out.splitlines()[-1]


@pytest.fixture(scope="module")
def service(data_dir: Path, token: str, artifacts: Path) -> Iterator[str]:
    """Only the API (no workers: nothing here trains), with tokens required for reads too."""
    require_browser()
    env = clean_env(NASBOARD_AUTH="required", NASBOARD_AUTH_READS="private")
    with serve(nasboard("api", "--data-dir", str(data_dir)), env, artifacts / "service-auth.log") as url:
        yield url


def test_page_asks_for_the_token_on_401_then_succeeds(
    page, service: str, token: str, artifacts: Path
) -> None:
    page.goto(service)
    dialog = page.locator("dialog.token-dialog")
    dialog.wait_for(state="visible", timeout=10_000)
    assert "needs an API token" in dialog.inner_text()
    page.screenshot(path=str(artifacts / "token-prompt.png"))

    dialog.locator("input").fill("wrong-token")
    dialog.locator("button[value='ok']").click()
    page.wait_for_function("document.querySelector('dialog.token-dialog p')?.textContent.includes('refused')")
    dialog.locator("input").fill(token)
    dialog.locator("button[value='ok']").click()
    dialog.wait_for(state="detached", timeout=10_000)
    assert page.evaluate("localStorage.getItem('nasboard.token')") == token

    # Writes carry the token too, and the search records whose it was.
    created = page.evaluate(
        "async (spec) => (await import('/static/js/api.js')).api.createSearch(spec)", SPEC
    )
    detail = page.evaluate(f"async () => (await import('/static/js/api.js')).api.getSearch({created['id']})")
    assert detail["created_by"] == "browser"

    page.reload()  # the stored token is used at once: no second prompt
    page.wait_for_function("document.querySelectorAll('#search-table tbody tr[data-id]').length >= 1")
    assert page.locator("dialog.token-dialog").count() == 0
    # The browser reports each refused request itself; those are the point of this test.
    page.console_errors[:] = [e for e in page.console_errors if "status of 401" not in e]
