"""A search spec's text (YAML or JSON) to a mapping, the same for the CLI's spec files and the form's
paste/upload (`POST /api/spec/parse`). `yaml.safe_load` builds only plain data: no object construction."""

from __future__ import annotations

from typing import Any


class SpecTextError(ValueError):
    """Text that is not a YAML/JSON mapping; `line` and `column` (1-based) where the parser knows them."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.line, self.column = problem, line, column


def parse_spec_text(text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is None:
            raise SpecTextError(f"not valid YAML or JSON: {problem}") from None
        raise SpecTextError(f"not valid YAML or JSON: {problem}", mark.line + 1, mark.column + 1) from None
    if not isinstance(data, dict):
        raise SpecTextError(f"a search spec must be a mapping of fields, got {type(data).__name__}")
    return data
