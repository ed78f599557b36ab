"""The form's applicability rules (frontend/js/form-rules.js) against the spec they hide fields of: every
path a rule hides or reads is a field of the spec schema (or of a strategy's Options), and every value a
rule compares with is one the server accepts for that field. A renamed field or choice then fails here
instead of leaving a rule that silently never fires."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

RULES_JS = Path(__file__).resolve().parents[2] / "frontend" / "js" / "form-rules.js"
RULE = re.compile(r'^\s+"([\w.]+)": \(v\) => (.+?),(?:\s*//.*)?$', re.M)
READ = re.compile(r'v\("([\w.]+)"\)(?:\s*(===|!==)\s*("[^"]*"|true|false))?')


def _field_schemas(path: str) -> list[dict[str, Any]]:
    """The JSON schemas of `section.name` wherever the server defines it (a strategy's Options included)."""
    from worker.nas.registry import SPACES, STRATEGIES, space_class, strategy_class
    from worker.nas.spec import SearchSpec

    section, name = path.split(".", 1)
    root = SearchSpec.model_json_schema()
    found = []
    ref = root["properties"][section].get("$ref", "")
    sub = root["$defs"].get(ref.rsplit("/", 1)[-1], {})
    if name in sub.get("properties", {}):
        found.append(sub["properties"][name])
    plugins = {"strategy": (STRATEGIES, strategy_class), "space": (SPACES, space_class)}.get(section)
    if plugins:
        for cls_name in plugins[0]:
            options = plugins[1](cls_name).Options.model_json_schema()
            if name in options.get("properties", {}):
                prop = options["properties"][name]
                ref = prop.get("$ref") or next((a.get("$ref") for a in prop.get("allOf", [])), None)
                found.append(options["$defs"][ref.rsplit("/", 1)[-1]] if ref else prop)
    return found


def _allowed(schema: dict[str, Any]) -> set[Any]:
    if "enum" in schema:
        return set(schema["enum"])
    if "const" in schema:
        return {schema["const"]}
    return {v for option in schema.get("anyOf", []) for v in _allowed(option)}


def _takes_boolean(schema: dict[str, Any]) -> bool:
    """A boolean field, or one that is a boolean or something else (dataset.augment: a value or searched)."""
    return schema.get("type") == "boolean" or any(_takes_boolean(o) for o in schema.get("anyOf", []))


def test_every_rule_names_fields_and_values_the_server_accepts() -> None:
    rules = RULE.findall(RULES_JS.read_text(encoding="utf-8"))
    assert len(rules) >= 9  # the parse found the rules
    for hidden, condition in rules:
        assert _field_schemas(hidden), f"{hidden}: no such field in the spec"
        reads = READ.findall(condition)
        assert reads, f"{hidden}: its condition reads no field"
        for path, _op, literal in reads:
            schemas = _field_schemas(path)
            assert schemas, f"{hidden}: reads {path}, no such field in the spec"
            if literal.startswith('"'):
                value = literal.strip('"')
                assert any(value in _allowed(s) for s in schemas), f"{path} never takes {value!r}"
            elif literal in ("true", "false"):
                assert any(_takes_boolean(s) for s in schemas), f"{path} is not a boolean"
