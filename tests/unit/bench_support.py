"""A small synthetic benchmark table and real `nasboard bench tabular` documents made from it."""

from __future__ import annotations

import csv
import itertools
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.cli.bench_publish import build_document
from worker.nas.bench import bench_space, run_tabular_bench
from worker.nas.evaluation.tabular import TabularTable

CHOICES = ["op", "width", "act"]


def write_table(path: Path) -> Path:
    """A 3x4x3 categorical table with 30 of its 36 rows: val = test - 0.5 rises with every choice, flops
    with the width only, so accuracy and cost trade off."""
    rng = random.Random(0)
    combos = list(itertools.product(["a", "b", "c"], ["1", "2", "3", "4"], ["x", "y", "z"]))
    rng.shuffle(combos)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", *CHOICES, "val", "test", "flops"])
        for op, width, act in combos[:30]:
            score = "abc".index(op) + int(width) + "xyz".index(act)
            w.writerow([f"{op}-{width}-{act}", op, width, act, score, score + 0.5, int(width) * 10])
    return path


def bench_document(
    path: Path,
    strategy: str = "random",
    *,
    costs: tuple[str, ...] = (),
    budget: int = 10,
    repeats: int = 4,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A real run of `strategy` on the table at `path`, as --out / --publish would store it."""
    table = TabularTable(path, "name", "val", "test", cost_columns=list(costs), choice_columns=CHOICES)
    goals = ["maximize", *["minimize"] * len(costs)] if costs else None
    started = datetime.now(UTC)
    out = run_tabular_bench(
        table,
        bench_space(table, "categorical"),
        strategy,
        options or {},
        budget,
        repeats,
        0,
        costs,
        goals=goals,
    )
    return build_document(
        out,
        table_path=str(path),
        rows=len(table),
        space="categorical",
        arch_column="name",
        name="",
        started_at=started,
        finished_at=datetime.now(UTC),
    )
