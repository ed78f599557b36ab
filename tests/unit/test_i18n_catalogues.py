"""The dashboard's message catalogues (frontend/i18n/en.json, zh.json) against each other, against the
keys the pages use, and against the spec schema whose fields the new-search form labels and explains."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from api_support import make_api

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
LANGUAGES = ("en", "zh")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(lang: str) -> dict[str, str]:
    return json.loads((FRONTEND / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def sources() -> dict[Path, str]:
    files = [*FRONTEND.glob("js/**/*.js"), *FRONTEND.glob("*.html")]
    return {p: p.read_text(encoding="utf-8") for p in files}


def used_keys() -> dict[str, Path]:
    """Every literal key the pages name: `data-i18n*` attributes and quoted strings in a catalogue's
    namespaces ("chart.fitness", "srv.ge"), wherever they appear (t() calls, ternaries, tables)."""
    namespaces = "|".join(sorted({k.split(".")[0] for k in catalogue("en")}))
    quoted = re.compile(rf"""["']((?:{namespaces})\.[\w.\-]+)["']""")
    attr = re.compile(r"""data-i18n(?:-[a-z-]+)?="([^"]+)\"""")
    call = re.compile(r"""\bt\(\s*["']([^"']+)["']""")  # any t("…"), a misspelt namespace too
    keys: dict[str, Path] = {}
    for path, text in sources().items():
        for key in [*quoted.findall(text), *attr.findall(text), *call.findall(text)]:
            keys.setdefault(key, path)
    return keys


def test_both_catalogues_have_the_same_keys() -> None:
    en, zh = catalogue("en"), catalogue("zh")
    assert sorted(set(en) - set(zh)) == [], "in en.json only"
    assert sorted(set(zh) - set(en)) == [], "in zh.json only"


def test_translations_keep_their_placeholders_and_are_not_empty() -> None:
    en, zh = catalogue("en"), catalogue("zh")
    for key, text in en.items():
        assert text.strip() or key == "importance.end", key
        assert zh[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(zh[key])), key


def test_every_key_the_pages_use_is_in_both_catalogues() -> None:
    keys = used_keys()
    assert len(keys) > 150  # the extraction finds the pages' keys at all
    for lang in LANGUAGES:
        missing = {k: str(p.relative_to(FRONTEND)) for k, p in keys.items() if k not in catalogue(lang)}
        assert missing == {}, f"missing from {lang}.json"


def test_keys_built_at_run_time_come_from_known_families() -> None:
    """A key put together in code (t(`status.${s}`)) cannot be checked by name; only these families
    may be, and each has its own test below (or falls back to the name by design: metric, field…)."""
    families = set()
    for text in sources().values():
        families.update(re.findall(r"""(?:\bt|\bhas)\(`([\w.]+)\.\$\{""", text))
        families.update(re.findall(r"""const key = `([\w.]+)\.\$\{""", text))
    assert families <= {"status", "metric", "field", "choice", "section", "help"}, families


def test_every_search_and_candidate_status_has_a_label() -> None:
    from backend.db.models import CANDIDATE_STATUSES, SEARCH_STATUSES

    for lang in LANGUAGES:
        cat = catalogue(lang)
        assert [s for s in {*SEARCH_STATUSES, *CANDIDATE_STATUSES} if f"status.{s}" not in cat] == [], lang


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        return defs[prop["$ref"].split("/")[-1]]
    variants = [v for v in prop.get("anyOf", []) if v.get("type") != "null"]
    return _resolve(variants[0], defs) if len(variants) == 1 else prop


def form_fields(tmp_path: Path) -> tuple[set[str], dict[str, str]]:
    """The field names the form shows and each described field's help key with its description, from
    the same endpoints the form is built from (spec schema, spaces, strategies)."""
    client = make_api(tmp_path).client
    root = client.get("/api/spec/schema").json()
    defs = root.get("$defs", {})
    names: set[str] = set()
    helps: dict[str, str] = {}
    for name, prop in root["properties"].items():
        names.add(name)
        if prop.get("description"):
            helps[f"help.{name}"] = prop["description"]
        if name in ("space", "strategy"):  # their fields come from each class's options
            continue
        section = _resolve(prop, defs)
        if section.get("type") == "array":
            section = _resolve(section.get("items", {}), defs)
        for sub, sub_prop in (section.get("properties") or {}).items():
            names.add(sub)
            description = sub_prop.get("description") or _resolve(sub_prop, defs).get("description")
            if description:
                helps[f"help.{name}.{sub}"] = description
    for endpoint, section_name in (("spaces", "space"), ("strategies", "strategy")):
        for entry in client.get(f"/api/{endpoint}").json():
            if entry.get("description"):
                helps[f"help.{section_name}.{entry['name']}"] = entry["description"]
            for sub, sub_prop in ((entry.get("options") or {}).get("properties") or {}).items():
                names.add(sub)
                if sub_prop.get("description"):
                    helps[f"help.{section_name}.{entry['name']}.{sub}"] = sub_prop["description"]
    return names, helps


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], dict[str, str]]:
    return form_fields(tmp_path_factory.mktemp("i18n-schema"))


def test_every_form_field_has_a_label_in_both_languages(fields: tuple[set[str], dict[str, str]]) -> None:
    names, _ = fields
    assert {"epochs", "lr", "population_size", "max_flops"} <= names
    for lang in LANGUAGES:
        assert sorted(n for n in names if f"field.{n}" not in catalogue(lang)) == [], lang
    assert catalogue("en")["field.lr"] == "Learning rate"
    assert catalogue("en")["field.max_flops"] == "Max FLOPs"


def test_every_field_description_is_translated_and_the_english_is_the_schemas(
    fields: tuple[set[str], dict[str, str]],
) -> None:
    """The English help is the model's own description, so a changed description fails here until both
    catalogues say the new thing."""
    _, helps = fields
    assert len(helps) > 50
    en, zh = catalogue("en"), catalogue("zh")
    assert {k: v for k, v in helps.items() if en.get(k) != v} == {}, "en.json differs from the schema"
    assert sorted(k for k in helps if k not in zh) == [], "zh.json lacks"
