"""Make /openapi.json describe the errors the app really returns.

FastAPI declares its own `HTTPValidationError` (`{detail: [{loc, msg, type}]}`) for every route with
parameters, but the app answers 422 with `{detail: [{field, message, allowed}]}` (see app.py). Every
reference to FastAPI's shape is pointed at ours, and routes with a body also list the 413 of the body
limit middleware, which sits outside the routes, and the 400 of a body that is not UTF-8 JSON.

The spec's `space` and `strategy` sections are `{type: NAME, ...options}`, validated by the server against
the named plugin's Options model; the document says the same with one `oneOf` variant per plugin (its
`type` constant and its options, nothing else), instead of a free-form object.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

FASTAPI_422 = "#/components/schemas/HTTPValidationError"
OURS_422 = "#/components/schemas/ValidationErrorBody"
MESSAGE = "#/components/schemas/Message"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _patched(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _patched(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _repoint(schema)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    _add_models(components)
    _type_the_plugins(components)
    for item in schema.get("paths", {}).values():
        for method in METHODS:
            operation = item.get(method)
            if operation and "requestBody" in operation:
                operation["responses"].setdefault(
                    "400",
                    {
                        "description": "the body could not be read (not UTF-8 JSON)",
                        "content": {"application/json": {"schema": {"$ref": MESSAGE}}},
                    },
                )
                operation["responses"].setdefault(
                    "413",
                    {
                        "description": "the body is over NASBOARD_MAX_BODY_BYTES",
                        "content": {"application/json": {"schema": {"$ref": MESSAGE}}},
                    },
                )
    return schema


def _repoint(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (OURS_422 if k == "$ref" and v == FASTAPI_422 else _repoint(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_repoint(v) for v in node]
    return node


def _add_models(components: dict[str, Any]) -> None:
    """The error models, in case no route happened to reference them already."""
    from pydantic.json_schema import models_json_schema

    from backend.api.schemas import Message, ValidationErrorBody

    _, defs = models_json_schema(
        [(ValidationErrorBody, "validation"), (Message, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    for name, model_schema in defs.get("$defs", {}).items():
        components.setdefault(name, model_schema)


def _type_the_plugins(components: dict[str, Any]) -> None:
    from worker.nas.registry import SPACES, STRATEGIES, space_class, strategy_class
    from worker.nas.spec import SpaceSpec, StrategySpec

    for component, names, class_of, model in (
        ("SpaceSpec", SPACES, space_class, SpaceSpec),
        ("StrategySpec", STRATEGIES, strategy_class, StrategySpec),
    ):
        if component not in components:
            continue
        default = model.model_fields["type"].default
        variants = []
        for name in names:
            options = class_of(name).Options.model_json_schema(ref_template="#/components/schemas/{model}")
            for def_name, def_schema in options.pop("$defs", {}).items():
                components.setdefault(def_name, def_schema)
            variant: dict[str, Any] = {
                "type": "object",
                "title": name,
                "properties": {"type": {"const": name}, **options.get("properties", {})},
                "additionalProperties": False,
            }
            # Only the default plugin may leave out its `type`, so every body matches one variant.
            required = [*([] if name == default else ["type"]), *options.get("required", [])]
            if required:
                variant["required"] = required
            variants.append(variant)
        components[component] = {
            "title": component,
            "description": f"`type` (default {default}) and that plugin's options",
            "oneOf": variants,
        }
