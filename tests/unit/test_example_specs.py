"""The example specs under benchmarks/ are documents users copy: each must stay valid as the schema moves."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from worker.nas.factory import make_space, make_strategy
from worker.nas.spec import parse_spec
from worker.nas.types import TaskShape

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.yaml"))


def test_benchmarks_folder_holds_example_specs() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_validates_and_its_strategy_proposes_genomes_of_its_space(path: Path) -> None:
    spec = parse_spec(yaml.safe_load(path.read_text()))
    if spec.dataset.name == "table" and not Path(spec.dataset.path).is_file():  # type: ignore[arg-type]
        pytest.skip(f"the table {spec.dataset.path} is not on this machine")
    shape = (1, 8, 8) if spec.dataset.name == "digits" else (1, 28, 28)
    space = make_space(spec, TaskShape(shape, 10))
    assert space.validate(space.sample(random.Random(0)))
    proposed = make_strategy(spec, space).ask(2)
    assert len(proposed) == 2
    assert all(space.validate(g) == g for g in proposed)
