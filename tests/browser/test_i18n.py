"""The dashboard in English and 简体中文: every page of a seeded search (list, form, search, candidate,
compare), of a seeded group of multi-objective searches (a member's search page, the group page) and of
stored tabular-benchmark runs (the benchmarks page) is walked in both languages, and no visible text is
left in the other language; the language follows the browser, the switch overrides it and is remembered,
and the API's 422 is shown translated."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import require_browser
from .seeding import seed_benchmarks, seed_group

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
# Names that stay as they are in every language: the product, formats, units and abbreviations.
# Spec values (space, strategy, dataset, enum choices, NB-201 operations) are added from the API.
ALLOW = {
    "NASBoard",
    "ONNX",
    "TorchScript",
    "YAML",
    "JSON",
    "F1",
    "UTC",
    "REINFORCE",
    "x",
    "y",
    "k",
    "K",
    "M",
    "G",
}
DATA = {
    "seeded",
    "seeded-group",
    "test-worker",
}  # the seeded search's name and worker: the user's words, not the page's
# Visible text nodes, SVG included; code, genomes and labels (.mono, pre, code) are machine text.
VISIBLE_TEXT = """() => {
  const skip = (el) => el.closest('#lang-switch, code, pre, .mono, script, style, option');
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    const text = n.textContent.trim();
    if (!text || !el || skip(el)) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    out.push(text);
  }
  for (const s of document.querySelectorAll('select:not(#lang-switch)')) {
    const o = s.selectedOptions[0];
    if (o && s.checkVisibility()) out.push(o.textContent.trim());
  }
  out.push(document.title);
  return out;
}"""


def _seed(tmp: Path) -> tuple[object, dict[str, int]]:
    """A running NB-201 search: 10 done candidates (curves, metrics), one failed, one training."""
    from unit.api_support import finish, make_api, seed_search

    from backend.db import repository
    from backend.db.session import session_scope

    api = make_api(tmp)
    search_id, cands = seed_search(api.settings, n=12)
    for i, cid in enumerate(cands[:10]):
        finish(api.settings, cid, accuracy=0.5 + 0.04 * i, params=1e4 * (i + 1))
    with session_scope(api.settings, write=True) as s:
        repository.mark_training(s, cands[10], worker="test-worker")
        repository.finish_candidate(s, cands[10], "failed", error="RuntimeError: out of memory")
        repository.mark_training(s, cands[11], worker="test-worker")
    group = seed_group(api)
    multi = next(iter(group["members"]))
    bench = seed_benchmarks(api, tmp)
    ids = {"search": search_id, "a": cands[8], "b": cands[9], "group": group["group"], "multi": multi}
    return api, {**ids, "bench": bench["random"], "bench_rea": bench["rea"]}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int], set[str]]]:
    from unit.api_support import live_server

    require_browser()
    api, ids = _seed(tmp_path_factory.mktemp("i18n"))
    client = api.client  # type: ignore[attr-defined]
    names = _spec_values(client)
    with live_server(api) as url:  # type: ignore[arg-type]
        yield url, ids, names


@pytest.fixture(scope="module")
def service(seeded: tuple[str, dict[str, int], set[str]]) -> str:
    """The conftest's browser runs against the seeded in-process server instead of `nasboard up`."""
    return seeded[0]


def _spec_values(client: object) -> set[str]:
    """Every name a spec can hold as a value (classes, datasets, enum choices): shown as they are."""
    values: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("enum", "const"):
                    values.update(str(v) for v in (value if isinstance(value, list) else [value]))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(client.get("/api/spec/schema").json())  # type: ignore[attr-defined]
    for kind in ("spaces", "strategies", "datasets"):
        for entry in client.get(f"/api/{kind}").json():  # type: ignore[attr-defined]
            values.add(entry["name"])
            walk(entry.get("options") or {})
            walk(entry.get("defaults") or {})
    for entry in client.get("/api/spaces").json():  # type: ignore[attr-defined]
        for value in (entry.get("defaults") or {}).values():
            if isinstance(value, list):
                values.update(str(v) for v in value)
    return values


def _pages(ids: dict[str, int]) -> dict[str, str]:
    return {
        "index": "/",
        "new": "/new",
        "search": f"/searches/{ids['search']}",
        "candidate": f"/candidates/{ids['a']}",
        "compare": f"/compare?ids={ids['a']},{ids['b']}",
        "search-multi": f"/searches/{ids['multi']}",
        "group": f"/groups/{ids['group']}",
        "benchmarks": f"/benchmarks?ids={ids['bench']},{ids['bench_rea']}",
    }


def _open(page: object, url: str, name: str) -> None:
    page.goto(url)  # type: ignore[attr-defined]
    if name == "index":
        page.wait_for_selector("#search-table tbody tr[data-id]", timeout=20_000)  # type: ignore[attr-defined]
        return
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)  # type: ignore[attr-defined]
    if name.startswith("search"):  # the summaries load after the page is interactive
        for sel in ("#failures > *", "#timeline-chart[data-bars]", "#importance-chart[data-items]"):
            page.wait_for_selector(sel, state="attached", timeout=30_000)  # type: ignore[attr-defined]
        page.locator("#parcoords-chart").scroll_into_view_if_needed()  # type: ignore[attr-defined]
        page.wait_for_selector("#parcoords-chart[data-lines]", state="attached", timeout=30_000)  # type: ignore[attr-defined]
    if name == "search-multi":
        page.wait_for_selector("#hypervolume-chart[data-points]", state="attached", timeout=30_000)  # type: ignore[attr-defined]


def _untranslated_in_zh(texts: list[str], allowed: set[str]) -> list[str]:
    """Texts without Chinese that hold a word which is neither a kept name nor an identifier."""
    bad = []
    for text in texts:
        if CJK.search(text):
            continue
        words = [w for w in WORD.findall(text) if w not in allowed and not re.search(r"[\d_]", w)]
        if words:
            bad.append(text)
    return bad


def _context(browser: object, locale: str) -> tuple[object, list[str]]:
    context = browser.new_context(locale=locale, viewport={"width": 1360, "height": 1000})  # type: ignore[attr-defined]
    errors: list[str] = []
    context.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    context.on("weberror", lambda e: errors.append(str(e.error)))
    return context, errors


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_page_is_in_the_browsers_language_only(
    browser: object, seeded: tuple[str, dict[str, int], set[str]], locale: str, artifacts: Path
) -> None:
    url, ids, names = seeded
    allowed = ALLOW | DATA | names
    context, errors = _context(browser, locale)
    page = context.new_page()  # type: ignore[attr-defined]
    found: dict[str, list[str]] = {}
    for name, path in _pages(ids).items():
        _open(page, url + path, name)
        assert page.evaluate("document.documentElement.lang") == ("zh-CN" if locale == "zh-CN" else "en")
        texts = page.evaluate(VISIBLE_TEXT)
        assert len(texts) > 10, (name, texts)
        if locale == "zh-CN":
            wrong = _untranslated_in_zh(texts, allowed)
        else:
            wrong = [text for text in texts if CJK.search(text)]
        if wrong:
            found[name] = wrong
        page.screenshot(path=str(artifacts / f"i18n-{locale}-{name}.png"), full_page=True)
    page.goto("about:blank")  # close the search page's event stream
    context.close()  # type: ignore[attr-defined]
    assert not found, f"text in the wrong language ({locale}): {found}"
    assert not errors, errors


def test_language_switch_overrides_the_browser_and_is_remembered(
    browser: object, seeded: tuple[str, dict[str, int], set[str]]
) -> None:
    url, ids, _ = seeded
    context, errors = _context(browser, "en-US")
    page = context.new_page()  # type: ignore[attr-defined]
    _open(page, f"{url}/", "index")
    assert page.inner_text("header nav a") == "Searches"
    page.select_option("#lang-switch", "zh-CN")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'", timeout=10_000)
    assert page.inner_text("header nav a") == "搜索列表"
    # Remembered on the next page of the same browser; numbers and times in the chosen language.
    _open(page, url + _pages(ids)["search"], "search")
    assert page.inner_text("#search-status") == "运行中"
    assert page.input_value("#lang-switch") == "zh-CN"
    assert "第 1–12 条，共 12 条" in page.inner_text("#candidate-table .pager")
    page.select_option("#lang-switch", "en")
    page.wait_for_function("document.documentElement.lang === 'en'", timeout=10_000)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.inner_text("#search-status") == "running"
    page.goto("about:blank")
    context.close()  # type: ignore[attr-defined]
    assert not errors, errors


def test_api_errors_are_shown_translated_beside_their_field(
    browser: object, seeded: tuple[str, dict[str, int], set[str]], artifacts: Path
) -> None:
    url, _, names = seeded
    context, errors = _context(browser, "zh-CN")
    page = context.new_page()  # type: ignore[attr-defined]
    _open(page, f"{url}/new", "new")
    page.fill("[data-path='training.epochs']", "0")
    page.click("#submit-search")
    holder = "[data-error-for='training.epochs']"
    page.wait_for_function(f'document.querySelector("{holder}").textContent.length > 0', timeout=10_000)
    assert page.inner_text(holder) == "必须大于或等于 1"
    assert page.inner_text("#form-error") == "规格有错误，请查看标出的字段。"
    assert not _untranslated_in_zh(page.evaluate(VISIBLE_TEXT), ALLOW | names)
    page.screenshot(path=str(artifacts / "i18n-zh-CN-422.png"), full_page=True)
    context.close()  # type: ignore[attr-defined]
    assert [e for e in errors if "422" not in e] == []
