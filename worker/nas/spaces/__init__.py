"""Search spaces: one module per space, looked up by name through worker.nas.registry."""

from __future__ import annotations

from typing import Any

from worker.nas.registry import space_class
from worker.nas.spaces.base import SearchSpace, SpaceOptions
from worker.nas.types import TaskShape

__all__ = ["SearchSpace", "SpaceOptions", "make_space"]


def make_space(
    name: str, options: dict[str, Any] | None = None, task: TaskShape | None = None
) -> SearchSpace:
    """The space registered as `name`, its options validated by the class's Options model.

    Unknown names raise ValueError listing the allowed ones; bad options raise pydantic's ValidationError
    (a ValueError) naming the field.
    """
    cls = space_class(name)
    return cls(cls.Options.model_validate(options or {}), task)
