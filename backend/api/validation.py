"""Spec validation for the API: pydantic errors turned into `{field, message, allowed}` items.

The spec is validated by `worker.nas.spec` (the same code `nasboard search` uses); this module only
reshapes its errors so a form can show each message next to its field, with the allowed values when the
field is a choice (an unknown space or strategy lists the registered ones).
"""

from __future__ import annotations

import enum
import math
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from backend.api.schemas import FieldError
from backend.settings import Settings

_TYPED_SECTIONS = ("space", "strategy")


def validate_spec(body: Any) -> tuple[Any, list[FieldError]]:
    """Return (SearchSpec, []) or (None, errors); used where a spec arrives outside a request body."""
    from worker.nas.spec import parse_spec

    if not isinstance(body, dict):
        return None, [FieldError(field="body", message="the search spec must be a JSON object")]
    try:
        return parse_spec(body), []
    except ValidationError as exc:
        return None, [spec_field_error(err, body) for err in exc.errors(include_url=False)]


def check_on_server(spec: Any, settings: Settings) -> tuple[dict[str, Any], list[FieldError]]:
    """What the spec model cannot know: values the database refuses, the dataset's presence on this
    server and the network-size ceiling. Returns the spec to store (dataset.path resolved) or errors."""
    from backend.api.dataset_check import DatasetProblem, check_dataset
    from backend.api.network_size import largest_params
    from worker.nas.types import TaskShape

    data = spec.model_dump(mode="json")
    errors = unsafe_values(data)
    if errors:
        return data, errors
    if data["dataset"]["name"] == "table":
        return check_table_on_server(spec, data, settings)
    try:
        path, shape = check_dataset(data["dataset"], settings)
    except DatasetProblem as exc:
        return data, [FieldError(field=exc.field, message=str(exc))]
    data["dataset"]["path"] = path
    space = dict(data["space"])
    largest = largest_params(space.pop("type"), space, TaskShape(input_shape=shape))
    if largest is not None and largest > settings.max_network_params:
        message = (
            f"the largest network of this space has {largest:,} parameters, over this server's limit of "
            f"{settings.max_network_params:,} (NASBOARD_MAX_NETWORK_PARAMS); narrow its grids "
            "(filters, dense_units, max_depth, dims, max_blocks, ...)"
        )
        return data, [FieldError(field="space", message=message)]
    return data, []


def check_table_on_server(
    spec: Any, data: dict[str, Any], settings: Settings
) -> tuple[dict[str, Any], list[FieldError]]:
    """A table search's CSV: confined to the server's table directory (NASBOARD_TABLE_DIR, by default the
    dataset directory), then its columns against the spec. The stored spec carries the resolved path."""
    from backend.api.dataset_check import DatasetProblem, confine
    from worker.nas.evaluation.table_search import TableProblem, check_table

    root = Path(settings.table_dir).resolve()  # type: ignore[arg-type]
    try:
        path = confine(data["dataset"]["path"], root, "table directory (NASBOARD_TABLE_DIR)")
    except DatasetProblem as exc:
        return data, [FieldError(field=exc.field, message=str(exc))]
    data["dataset"]["path"] = str(path)
    try:
        check_table(spec.model_copy(update={"dataset": spec.dataset.model_copy(update={"path": str(path)})}))
    except TableProblem as exc:
        return data, [FieldError(field=exc.field, message=str(exc).removeprefix(f"{exc.field}: "))]
    return data, []


def unsafe_values(value: Any, loc: tuple[Any, ...] = ()) -> list[FieldError]:
    """NUL characters (PostgreSQL text refuses them) and non-finite numbers anywhere in the spec."""
    field = ".".join(str(p) for p in loc) or "body"
    if isinstance(value, str):
        return [FieldError(field=field, message="must not contain NUL characters")] if "\x00" in value else []
    if isinstance(value, float) and not math.isfinite(value):
        return [FieldError(field=field, message="must be a finite number")]
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if "\x00" in str(key):
                out.append(FieldError(field=field, message="keys must not contain NUL characters"))
            out += unsafe_values(item, (*loc, key))
        return out
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in unsafe_values(item, (*loc, i))]
    return []


def request_errors(errors: Sequence[Any], body: Any) -> list[FieldError]:
    """FastAPI's request errors: body errors are spec errors; query/path errors keep their location."""
    out = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc and loc[0] == "body":
            spec_body = body if isinstance(body, dict) else {}
            out.append(spec_field_error({**err, "loc": tuple(loc[1:])}, spec_body))
        else:
            expected = (err.get("ctx") or {}).get("expected")
            allowed = re.findall(r"'([^']*)'", expected) if isinstance(expected, str) else None
            field = ".".join(str(p) for p in loc)
            out.append(FieldError(field=field, message=str(err.get("msg")), allowed=allowed or None))
    return out


def spec_field_error(err: Any, body: dict[str, Any]) -> FieldError:
    loc = list(err.get("loc", ()))
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    kind = err.get("type", "")
    if not loc and kind in ("model_attributes_type", "dict_type", "missing", "json_invalid"):
        return FieldError(field="body", message="the search spec must be a JSON object: " + message)
    # The spec's own check for an unknown space/strategy type reports on the section; point at `type`.
    if len(loc) == 1 and loc[0] in _TYPED_SECTIONS and message.startswith("type: "):
        from worker.nas.registry import SPACES, STRATEGIES

        names = SPACES if loc[0] == "space" else STRATEGIES
        return FieldError(field=f"{loc[0]}.type", message=message.removeprefix("type: "), allowed=list(names))
    model = _model_at(loc[:-1], body) if kind == "extra_forbidden" else None
    if model is not None:
        allowed: list[Any] | None = sorted(model.model_fields)
        if loc and loc[0] in _TYPED_SECTIONS and len(loc) == 2:
            allowed = ["type", *allowed]
        message = f"unknown field {loc[-1]!r}"
    else:
        allowed = _allowed_at(loc, body) if kind in ("literal_error", "enum") else None
    return FieldError(field=".".join(str(p) for p in loc) or "body", message=message, allowed=allowed)


def _section_model(section: str, body: dict[str, Any]) -> type[BaseModel] | None:
    """The Options model of the space/strategy the body names, or None when the type is unknown."""
    from worker.nas.registry import space_class, strategy_class

    raw = body.get(section)
    name = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(name, str):
        return None
    try:
        cls = space_class(name) if section == "space" else strategy_class(name)
    except (ValueError, ImportError):
        return None
    return cls.Options


def _walk(loc: list[Any], body: dict[str, Any]) -> Any:
    """Follow `loc` through the spec's models; return the annotation at its end (or None)."""
    from worker.nas.spec import SearchSpec

    current: Any = SearchSpec
    for i, part in enumerate(loc):
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
            continue
        if i == 1 and loc[0] in _TYPED_SECTIONS:
            current = _section_model(loc[0], body)
            if current is None:
                return None
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    return current


def _model_at(loc: list[Any], body: dict[str, Any]) -> type[BaseModel] | None:
    if len(loc) == 1 and loc[0] in _TYPED_SECTIONS:
        return _section_model(loc[0], body)
    found = _unwrap(_walk(loc, body)) if loc else _walk([], body)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _allowed_at(loc: list[Any], body: dict[str, Any]) -> list[Any] | None:
    return choices(_walk(loc, body))


def _unwrap(annotation: Any) -> Any:
    """Strip Optional[...] (X | None) and a searched value (X | SearchDomain) so the real type shows."""
    from worker.nas.search_domain import SearchDomain

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a not in (type(None), SearchDomain)]
        if len(args) == 1:
            return args[0]
    return annotation


def choices(annotation: Any) -> list[Any] | None:
    """The values a Literal/Enum annotation (optionally Optional or list of) allows, else None."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return choices(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [m.value for m in annotation]
    return None
