"""Searchable recipe fields in the spec: the forms each field takes, checked against its own bounds, and
the fields that must stay fixed refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from worker.nas.factory import make_space
from worker.nas.spaces.nb201 import NB201Space
from worker.nas.spaces.recipe import RecipeSpace
from worker.nas.spec import SearchSpec, parse_spec


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        parse_spec(raw)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def test_searched_values_are_stored_in_the_form_they_were_written() -> None:
    raw = {
        "training": {
            "lr": {"log_uniform": [1.0e-4, 1.0e-2]},
            "batch_size": {"choices": [64, 128, 256]},
            "optimizer": {"choices": ["sgd", "adamw"]},
            "weight_decay": {"uniform": [0, 0.01]},
            "label_smoothing": {"choices": [0.0, 0.1]},
        },
        "dataset": {"augment": {"choices": [True, False]}, "erasing": {"uniform": [0, 0.5]}},
    }
    spec = parse_spec(raw)
    stored = spec.model_dump(mode="json")
    assert stored["training"]["lr"] == {"log_uniform": [0.0001, 0.01]}
    assert stored["training"]["batch_size"] == {"choices": [64, 128, 256]}
    assert stored["dataset"]["augment"] == {"choices": [True, False]}
    assert stored["training"]["epochs"] == 2 and stored["training"]["momentum"] == 0.9
    assert parse_spec(stored) == spec  # the stored spec parses to the same search


def test_a_batch_size_range_is_an_int_range() -> None:
    spec = parse_spec({"training": {"batch_size": {"int_uniform": [32, 256]}}})
    assert spec.model_dump(mode="json")["training"]["batch_size"] == {"int_uniform": [32, 256]}


@pytest.mark.parametrize(
    ("training", "field", "says"),
    [
        ({"epochs": {"choices": [1, 2]}}, "training.epochs", "epochs cannot be searched"),
        (
            {"precision": {"choices": ["fp32", "bf16"]}},
            "training.precision",
            "not a training hyper-parameter",
        ),
        ({"max_seconds": {"uniform": [1, 2]}}, "training.max_seconds", "cannot be searched"),
        ({"data_fraction": {"uniform": [0.1, 0.5]}}, "training.data_fraction", "cannot be searched"),
        ({"lr": {"log_uniform": [0, 0.1]}}, "training.lr", "greater than 0"),
        ({"lr": {"uniform": [0.001, 20]}}, "training.lr", "less than or equal to 10"),
        ({"lr": {"uniform": [0.01, 0.001]}}, "training.lr", "lo < hi"),
        ({"lr": {"between": [0.01, 0.1]}}, "training.lr", "{log_uniform: [...]}"),
        ({"lr": {"choices": [0.01]}}, "training.lr", "two or more distinct values"),
        ({"momentum": {"uniform": [0.5, 1.0]}}, "training.momentum", "less than 1"),
        ({"batch_size": {"uniform": [32, 64]}}, "training.batch_size", "{int_uniform: [...]}"),
        ({"batch_size": {"choices": [64, 0]}}, "training.batch_size", "greater than or equal to 1"),
        ({"optimizer": {"choices": ["sgd", "rmsprop"]}}, "training.optimizer", "'sgd', 'adam' or 'adamw'"),
        ({"optimizer": {"uniform": [0, 1]}}, "training.optimizer", "it takes {choices: [...]}"),
    ],
)
def test_a_bad_searched_value_is_refused_naming_the_field_and_why(
    training: dict[str, Any], field: str, says: str
) -> None:
    found = errors({"training": training})
    assert list(found) == [field]
    assert says in found[field]


def test_a_fixed_value_keeps_its_plain_error() -> None:
    assert errors({"training": {"optimizer": "rmsprop"}}) == {
        "training.optimizer": "Input should be 'sgd', 'adam' or 'adamw'"
    }
    assert errors({"training": {"lr": 20}}) == {"training.lr": "Input should be less than or equal to 10"}


def test_augment_takes_choices_of_booleans_only() -> None:
    assert "dataset.augment" in errors({"dataset": {"augment": {"choices": [True, 1]}}})
    assert "dataset.augment" in errors({"dataset": {"augment": {"uniform": [0, 1]}}})
    assert "dataset.train_subset" in errors({"dataset": {"train_subset": {"choices": [100, 200]}}})


def test_the_schema_marks_the_searchable_fields_and_their_forms() -> None:
    root = SearchSpec.model_json_schema()
    training = root["$defs"]["TrainingSpec"]["properties"]
    marked = {name: p["x-searchable"] for name, p in training.items() if "x-searchable" in p}
    assert marked == {
        "batch_size": ["choices", "int_uniform"],
        "optimizer": ["choices"],
        "lr": ["choices", "uniform", "log_uniform"],
        "momentum": ["choices", "uniform", "log_uniform"],
        "weight_decay": ["choices", "uniform", "log_uniform"],
        "schedule": ["choices"],
        "label_smoothing": ["choices", "uniform", "log_uniform"],
    }
    dataset = root["$defs"]["DatasetSpec"]["properties"]
    assert dataset["augment"]["x-searchable"] == ["choices"] and "x-searchable" in dataset["erasing"]


def test_a_spec_that_searches_nothing_gets_the_base_space_itself() -> None:
    assert type(make_space(parse_spec({"space": {"type": "nb201"}}))) is NB201Space
    wrapped = make_space(
        parse_spec({"space": {"type": "nb201"}, "training": {"lr": {"choices": [0.1, 0.01]}}})
    )
    assert isinstance(wrapped, RecipeSpace) and isinstance(wrapped.base, NB201Space)
