"""Reading a spec file and wording its errors, the same for `nasboard submit` and `nasboard search --local`.

A file that is not YAML/JSON is reported with its line and column, never as a traceback; an invalid spec is
worded as the API's 422 words it (`field: message (allowed: ...)`), so a typo reads the same either way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class SpecFileError(ValueError):
    """A spec file that could not be read as a mapping; the message names the file (and line)."""


def load_spec(path: str) -> dict[str, Any]:
    """A spec file in YAML or JSON (`-` for stdin); parsed with safe_load, so no object construction."""
    from backend.spec_text import SpecTextError, parse_spec_text

    name = "<stdin>" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecFileError(f"{name}: cannot read the spec file: {exc}") from None
    try:
        return parse_spec_text(text)
    except SpecTextError as exc:
        where = f":{exc.line}:{exc.column}" if exc.line is not None else ""
        raise SpecFileError(f"{name}{where}: {exc.problem}") from None


def format_field_errors(detail: list[dict[str, Any]]) -> str:
    """The API's 422 items (`{field, message, allowed}`) as lines for a terminal."""
    lines = []
    for err in detail:
        allowed = f" (allowed: {', '.join(map(str, err['allowed']))})" if err.get("allowed") else ""
        lines.append(f"  {err['field']}: {err['message']}{allowed}")
    return "invalid search spec:\n" + "\n".join(lines)


def spec_errors(raw: dict[str, Any]) -> tuple[Any, str | None]:
    """(SearchSpec, None), or (None, the errors worded as `format_field_errors` words the API's)."""
    from backend.api.validation import validate_spec

    spec, errors = validate_spec(raw)
    if errors:
        return None, format_field_errors([e.model_dump() for e in errors])
    return spec, None
