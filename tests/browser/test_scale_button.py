"""Compound scaling from the dashboard: the candidate page's "Scale this network" opens the new-search
form filled with the follow-up spec, which submits as is; the follow-up's Pareto view stars the original.
Served in-process: nothing here trains."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import require_browser
from .seeding import SCALE_GENOME, seed_scalable

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    from unit.api_support import live_server, make_api

    require_browser()
    api = make_api(tmp_path_factory.mktemp("scale"))
    seeded = seed_scalable(api)
    with live_server(api) as url:
        yield url, api, seeded


@pytest.fixture(scope="module")
def service(served: tuple[str, Any, dict[str, Any]]) -> str:
    return served[0]


def test_scale_button_opens_the_form_filled_with_the_follow_up_spec(page, served) -> None:
    url, api, seeded = served
    page.goto(f"{url}/candidates/{seeded['candidate']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    button = page.locator("#scale-link")
    assert button.is_visible() and button.inner_text() == "Scale this network"
    page.select_option("#scale-factor", "4")
    button.click()
    page.wait_for_url(f"**/new?scale={seeded['candidate']}&factor=4")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.input_value("[data-path='space.type']") == "scaled"
    assert f"candidate #{seeded['candidate']} to 4× its flops" in page.inner_text("#preset-note")
    assert page.inner_text("#form-error") == ""  # every field of the follow-up spec has its place
    page.check("input[name='spec-format'][value='json']")
    spec = json.loads(page.inner_text("#spec-text"))
    assert spec["space"]["base_genome"] == SCALE_GENOME and spec["space"]["factor"] == 4
    assert spec["constraints"]["max_flops"] == 4 * seeded["flops"]
    before = len(api.dispatcher.calls)
    page.click("#submit-search")
    page.wait_for_url("**/searches/*", timeout=30_000)
    new_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    assert api.dispatcher.calls[before:] == [("start", new_id)]
    stored = api.client.get(f"/api/searches/{new_id}").json()["spec"]
    assert stored["space"]["type"] == "scaled" and stored["space"]["base_genome"] == SCALE_GENOME
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_follow_up_pareto_view_stars_the_original_network(page, served) -> None:
    url, _, seeded = served
    page.goto(f"{url}/searches/{seeded['follow_up']}")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    page.wait_for_function("document.getElementById('pareto-chart').dataset.references === '1'")
    names = page.evaluate("document.getElementById('pareto-chart').data.map(t => t.name)")
    assert "original network (reference)" in names
    star = page.evaluate(
        "document.getElementById('pareto-chart').data.find(t => t.name.startsWith('original'))"
    )
    assert star["marker"]["symbol"] == "star" and star["customdata"] == [seeded["reference"]]


def test_no_scale_button_for_a_network_that_cannot_scale(page, served) -> None:
    url, _, seeded = served
    page.goto(f"{url}/candidates/{seeded['reference']}")  # a `scaled` candidate: not layers or vit
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.locator("#scale-link").is_hidden()
