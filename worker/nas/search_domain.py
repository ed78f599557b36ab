"""A searched value in the spec: a recipe field written as `{choices: [...]}`, `{uniform: [lo, hi]}`,
`{log_uniform: [lo, hi]}` or `{int_uniform: [lo, hi]}` instead of one value.

Each value a domain can yield is checked against the bounds of the field it stands for (the same
annotation that checks a fixed value), so whatever the search picks is a value the spec would accept.
Which fields take a domain is said by the spec (`searchable(...)` on the field); the search space that
picks the values is `worker.nas.spaces.recipe`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

FORMS = ("choices", "uniform", "log_uniform", "int_uniform")
RANGES = ("uniform", "log_uniform", "int_uniform")
EXAMPLE = "{choices: [a, b]}, {uniform: [lo, hi]}, {log_uniform: [lo, hi]} or {int_uniform: [lo, hi]}"


class SearchDomain(BaseModel):
    """A searched recipe value: exactly one of `choices`, `uniform`, `log_uniform`, `int_uniform`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    choices: list[bool | int | float | str] | None = None
    uniform: tuple[float, float] | None = None
    log_uniform: tuple[float, float] | None = None
    int_uniform: tuple[int, int] | None = None

    @property
    def form(self) -> str:
        return next(f for f in FORMS if getattr(self, f) is not None)

    @property
    def values(self) -> list[Any]:
        return list(getattr(self, self.form))

    @model_serializer
    def _dump(self) -> dict[str, list[Any]]:
        # Stored and shown as written: `{log_uniform: [0.0001, 0.01]}`, not four keys of which three are null.
        return {self.form: self.values}


def _forms_for(schema: dict[str, Any]) -> tuple[str, ...]:
    """The forms a field of this JSON schema takes: numbers take ranges, everything takes choices."""
    if schema.get("type") == "number":
        return ("choices", "uniform", "log_uniform")
    if schema.get("type") == "integer":
        return ("choices", "int_uniform")
    return ("choices",)


def _check_value(adapter: TypeAdapter, form: str, value: Any) -> Any:
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError as exc:
        raise ValueError(f"{form}: {value!r}: {exc.errors()[0]['msg']}") from None


def parse_domain(raw: dict[str, Any], adapter: TypeAdapter, forms: tuple[str, ...]) -> SearchDomain:
    """`raw` as a domain of the field `adapter` checks; ValueError naming the form and the value."""
    allowed = ", ".join(f"{{{f}: [...]}}" for f in forms)
    if len(raw) != 1 or next(iter(raw)) not in FORMS:
        raise ValueError(
            f"a searched value is one of {allowed} (got keys {sorted(map(str, raw))}); or give one value"
        )
    form, values = next(iter(raw.items()))
    if form not in forms:
        raise ValueError(f"{form} does not suit this field; it takes {allowed}")
    if not isinstance(values, list | tuple):
        raise ValueError(f"{form}: expected a list, got {values!r}")
    checked = [_check_value(adapter, form, v) for v in values]
    if form == "choices":
        if len(checked) < 2 or len({repr(v) for v in checked}) != len(checked):
            raise ValueError(f"choices: give two or more distinct values, got {list(values)}")
        return SearchDomain(choices=checked)
    if len(checked) != 2 or not checked[0] < checked[1]:
        raise ValueError(f"{form}: expected [lo, hi] with lo < hi, got {list(values)}")
    if form == "log_uniform" and checked[0] <= 0:
        raise ValueError(f"log_uniform: lo must be > 0, got {checked[0]}")
    if form != "int_uniform" and not all(math.isfinite(v) for v in checked):
        raise ValueError(f"{form}: bounds must be finite")
    return SearchDomain(**{form: tuple(checked)})


class searchable:  # noqa: N801 - used like a type annotation's marker: `Annotated[X | SearchDomain, searchable(X)]`
    """Field marker: a value checked by `scalar`, or a domain whose every value `scalar` accepts.

    The JSON schema says which forms the field takes (`x-searchable`), so the form can offer them.
    """

    def __init__(self, scalar: Any) -> None:
        self.adapter = TypeAdapter(scalar, config=ConfigDict(allow_inf_nan=False))
        self.forms = _forms_for(self.adapter.json_schema())
        self.wrap = WrapValidator(self._check)

    def _check(self, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if isinstance(value, SearchDomain):
            value = value.model_dump()
        if isinstance(value, dict):
            return parse_domain(value, self.adapter, self.forms)
        # A fixed value: checked by the scalar alone, so its errors read as before (no union noise).
        return self.adapter.validate_python(
            value, strict=info.config is not None and bool(info.config.get("strict"))
        )

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return self.wrap.__get_pydantic_core_schema__(source, handler)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["x-searchable"] = list(self.forms)
        return out


def not_searchable(value: Any, info: ValidationInfo) -> Any:
    """Before-validator of the fields a search must not pick: a domain there is refused with why."""
    if isinstance(value, dict) and set(value) & set(FORMS):
        why = (
            "epochs sets the fidelity (the schedule's length and the multi-fidelity rungs); the search "
            "compares candidates at equal epochs"
            if info.field_name == "epochs"
            else "it is not a training hyper-parameter"
        )
        raise ValueError(
            f"{info.field_name} cannot be searched: {why}. Searchable: training.batch_size, optimizer, lr, "
            "momentum, weight_decay, schedule, label_smoothing; dataset.augment, erasing"
        )
    return value
