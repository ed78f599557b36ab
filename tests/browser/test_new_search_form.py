"""The new-search form as a newcomer meets it (issue 19 item 8): presets from the example specs that
reproduce them exactly, human labels, fields shown only where they apply, and every error of a submit
marked at its field at once, cross-field ones included. Served in-process: nothing here trains."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .conftest import require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.yaml"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from unit.api_support import live_server, make_api

    require_browser()
    with live_server(make_api(tmp_path_factory.mktemp("form"))) as url:
        yield url


def _open(page, service: str) -> None:
    page.goto(f"{service}/new")
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def _full(spec: dict) -> dict:
    """The spec with every default written out, the space's and strategy's options included."""
    from worker.nas.registry import space_class, strategy_class
    from worker.nas.spec import parse_spec

    full = parse_spec(spec).model_dump(mode="json")
    for section, cls in (("space", space_class), ("strategy", strategy_class)):
        options = {k: v for k, v in full[section].items() if k != "type"}
        full[section] = {
            "type": full[section]["type"],
            **cls(full[section]["type"]).Options(**options).model_dump(),
        }
    return full


def _form_spec(page) -> dict:
    page.check("input[name='spec-format'][value='json']")
    return json.loads(page.inner_text("#spec-text"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_a_preset_fills_the_form_with_exactly_its_example_spec(page, service: str, path: Path) -> None:
    _open(page, service)
    page.select_option("#preset", label=f"{yaml.safe_load(path.read_text())['name']} ({path.name})")
    assert page.inner_text("#preset-note")  # the example's own first comment line
    assert page.inner_text("#form-error") == ""  # every value of the example has its field
    assert _full(_form_spec(page)) == _full(yaml.safe_load(path.read_text()))


def test_fields_have_human_labels_and_show_only_where_they_apply(page, service: str) -> None:
    _open(page, service)
    assert page.inner_text("label[for='f-training-lr']") == "Learning rate"
    assert page.inner_text("label[for='f-constraints-max_flops']") == "Max FLOPs"
    momentum = page.locator("[data-field='training.momentum']")
    page.select_option("[data-path='training.optimizer']", "sgd")
    page.fill("[data-path='training.momentum']", "0.5")
    assert _form_spec(page)["training"]["momentum"] == 0.5
    page.select_option("[data-path='training.optimizer']", "adamw")  # only SGD takes a momentum
    assert momentum.is_hidden()
    assert "momentum" not in _form_spec(page).get("training", {})
    # No final training: its epochs and repeats do not apply.
    page.fill("[data-path='final.top_k']", "0")
    page.dispatch_event("[data-path='final.top_k']", "change")
    assert page.locator("[data-field='final.epochs']").is_hidden()
    page.select_option("[data-path='strategy.type']", "genetic")
    assert page.locator("[data-field='strategy.tournament_size']").is_visible()
    page.select_option("[data-path='strategy.selection']", "roulette")
    assert page.locator("[data-field='strategy.tournament_size']").is_hidden()


def test_every_error_of_a_submit_is_marked_at_its_field_at_once(page, service: str) -> None:
    _open(page, service)
    page.select_option("[data-path='space.type']", "layers")
    page.fill("[data-path='training.epochs']", "0")
    page.fill("[data-path='training.lr']", "-1")
    page.fill("[data-path='space.min_depth']", "9")
    page.fill("[data-path='space.max_depth']", "5")
    page.click("#submit-search")
    page.wait_for_selector(".field.invalid", timeout=10_000)
    invalid = page.eval_on_selector_all(".field.invalid", "fs => fs.map(f => f.dataset.field).sort()")
    assert invalid == ["space.max_depth", "space.min_depth", "training.epochs", "training.lr"]
    # The cross-field message sits beside both fields it names.
    for name in ("min_depth", "max_depth"):
        assert "min_depth (9) must be <= max_depth (5)" in page.inner_text(f"[data-error-for='space.{name}']")
    assert page.url.endswith("/new")
    page.console_errors[:] = [e for e in page.console_errors if "status of 422" not in e]


def test_a_recipe_field_is_searched_through_its_toggle_and_submitted_as_a_domain(page, service: str) -> None:
    _open(page, service)
    lr = page.locator("[data-field='training.lr']")
    assert lr.locator(".recipe-domain").is_hidden()
    assert page.locator("[data-field='training.epochs'] [data-recipe-toggle]").count() == 0  # not searchable
    lr.locator("[data-recipe-toggle]").check()
    assert page.locator("[data-path='training.lr']").is_hidden() and lr.locator(".recipe-domain").is_visible()
    lr.locator("[data-recipe-form]").select_option("log_uniform")
    lr.locator("[data-recipe-values]").fill("0, 0.01")
    # A searched augment may pick true: erasing applies.
    augment = page.locator("[data-field='dataset.augment']")
    augment.locator("[data-recipe-toggle]").check()
    augment.locator("[data-recipe-values]").fill("true, false")
    augment.locator("[data-recipe-values]").dispatch_event("change")
    assert page.locator("[data-field='dataset.erasing']").is_visible()
    spec = _form_spec(page)
    assert spec["training"]["lr"] == {"log_uniform": [0, 0.01]}
    assert spec["dataset"]["augment"] == {"choices": [True, False]}
    page.click("#submit-search")  # lo = 0 has no log scale: the API's message lands at the field
    page.wait_for_selector("[data-field='training.lr'].invalid", timeout=10_000)
    assert "greater than 0" in page.inner_text("[data-error-for='training.lr']")
    page.console_errors[:] = [e for e in page.console_errors if "status of 422" not in e]
    lr.locator("[data-recipe-values]").fill("0.0001, 0.01")
    page.click("#submit-search")
    page.wait_for_url("**/searches/*", timeout=10_000)
    stored = page.request.get(page.url.replace("/searches/", "/api/searches/")).json()["spec"]
    assert stored["training"]["lr"] == {"log_uniform": [0.0001, 0.01]}
    assert stored["dataset"]["augment"] == {"choices": [True, False]}


def test_a_bad_searched_range_is_explained_in_chinese(page, service: str) -> None:
    _open(page, service)
    page.select_option("#lang-switch", "zh-CN")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'", timeout=10_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    lr = page.locator("[data-field='training.lr']")
    lr.locator("[data-recipe-toggle]").check()
    lr.locator("[data-recipe-form]").select_option("uniform")
    lr.locator("[data-recipe-values]").fill("0.01, 0.001")
    page.click("#submit-search")
    page.wait_for_selector("[data-field='training.lr'].invalid", timeout=10_000)
    assert "需要 [lo, hi] 且 lo < hi" in page.inner_text("[data-error-for='training.lr']")
    page.console_errors[:] = [e for e in page.console_errors if "status of 422" not in e]
    page.evaluate("localStorage.clear()")  # the other tests of this module read the page in English


def test_cross_field_errors_mark_every_field_they_name_in_one_submit(page, service: str) -> None:
    _open(page, service)
    page.select_option("[data-path='space.type']", "layers")
    page.fill("[data-path='space.kinds']", "pool")  # the space's own check: kinds must include 'conv'
    page.fill("[data-path='seed']", "4294967290")  # with 20 repeats, the seeds pass the largest one
    page.fill("[data-path='repeats']", "20")
    page.fill("[data-path='budget.max_candidates']", "0")
    page.click("#submit-search")
    page.wait_for_selector(".field.invalid", timeout=10_000)
    invalid = page.eval_on_selector_all(".field.invalid", "fs => fs.map(f => f.dataset.field).sort()")
    assert invalid == ["budget.max_candidates", "repeats", "seed", "space.kinds"]
    assert "pass the largest seed" in page.inner_text("[data-error-for='seed']")
    assert "kinds must include 'conv'" in page.inner_text("[data-error-for='space.kinds']")
    assert page.inner_text("#form-error") == "The spec has errors; see the marked fields."
    page.console_errors[:] = [e for e in page.console_errors if "status of 422" not in e]


PASTED = """# a spec as a user keeps it
name: pasted search
dataset:
  name: digits
space:
  type: layers
  min_depth: 2
  max_depth: 4
strategy: {type: genetic, selection: roulette}
training:
  epochs: 3
  optimizer: sgd
  momentum: 0.8
budget:
  max_candidates: 12
objectives:
  - metric: val_accuracy
  - metric: params
    goal: minimize
"""


def _paste(page, text: str) -> None:
    if not page.evaluate("document.getElementById('spec-paste').open"):
        page.click("#spec-paste summary")
    page.fill("#spec-paste-text", text)
    page.click("#spec-paste-load")


def test_a_pasted_yaml_spec_fills_the_form_to_edit_before_starting(page, service: str) -> None:
    _open(page, service)
    _paste(page, PASTED)
    page.wait_for_function("document.getElementById('preset-note').textContent.includes('pasted spec')")
    assert page.inner_text("#spec-paste-error") == "" and page.inner_text("#form-error") == ""
    assert _full(_form_spec(page)) == _full(yaml.safe_load(PASTED))
    assert page.locator("[data-rows-for='objectives'] .objective-row").count() == 2
    # Editable: a change shows in the spec; nothing was submitted.
    page.fill("[data-path='training.epochs']", "5")
    assert _form_spec(page)["training"]["epochs"] == 5
    assert page.url.endswith("/new")


def test_broken_yaml_is_reported_at_its_line_and_column_and_leaves_the_form_alone(page, service: str) -> None:
    _open(page, service)
    before = _form_spec(page)
    broken = "name: broken\nspace:\n  type: nb201\n   C: 8\n"
    _paste(page, broken)
    error = page.locator("#spec-paste-error")
    page.wait_for_function("document.getElementById('spec-paste-error').textContent.length > 0")
    assert error.inner_text() == (
        "Line 4, column 5: not valid YAML or JSON: mapping values are not allowed here"
    )
    # The place is selected in the text, so the user sees what to fix.
    at = page.evaluate("document.getElementById('spec-paste-text').selectionStart")
    assert at == broken.index("C: 8") + 1  # line 4, column 5
    assert _form_spec(page) == before
    _paste(page, "- just\n- a list\n")
    page.wait_for_function("document.getElementById('spec-paste-error').textContent.includes('mapping')")
    assert error.inner_text() == "a search spec must be a mapping of fields, got list"


def test_an_uploaded_json_spec_fills_the_form(page, service: str) -> None:
    _open(page, service)
    spec = {"name": "uploaded", "space": {"type": "nb201"}, "budget": {"max_candidates": 7}, "seed": 3}
    page.click("#spec-paste summary")
    page.set_input_files(
        "#spec-file",
        files=[{"name": "spec.json", "mimeType": "application/json", "buffer": json.dumps(spec).encode()}],
    )
    page.wait_for_function("document.getElementById('preset-note').textContent.includes('pasted spec')")
    assert _full(_form_spec(page)) == _full(spec)
    assert json.loads(page.input_value("#spec-paste-text")) == spec  # the file's text, to edit or fix
