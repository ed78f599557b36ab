"""A search whose dataset is a table (`dataset.name: table`): every candidate is "evaluated" by looking its
row up, through the same lifecycle as a trained search (`nasboard search --local` and the service).

The table is a CSV file read with the `csv` module only (nothing in it is imported or evaluated): an arch
column naming each row, optional choice columns defining the categorical space (an empty cell: "not
present"), and every other column that holds numbers is a metric: a candidate's metrics are its row's
figures, so objectives and constraints may name any of them. Without choice columns the arch column
holds NAS-Bench-201 cell strings and the space is nb201.

The first objective is what an evaluation reveals; every further objective and every bounded column is a
cost known without evaluating (as `nasboard bench tabular` treats its cost columns), handed to strategies
through the space's `cost(genome)`.
"""

from __future__ import annotations

import copy
import csv
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.nas.types import Genome, Metrics, Result

MAX_TABLE_BYTES = 256 * 2**20  # a table is read whole into memory


class TableProblem(ValueError):
    """The table cannot serve this spec; `field` is the spec field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _float(text: str | None) -> float | None:
    """A cell's number; NaN for an empty cell; None when it is not a number."""
    if text is None or text.strip() == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


class SearchTable:
    """A table's rows: arch ids, choice values, and every numeric column as a metric."""

    def __init__(self, path: Path, arch_column: str, choice_columns: tuple[str, ...] | None) -> None:
        self.path, self.arch_column = path, arch_column
        self.choice_columns = choice_columns or ()
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            self.header = list(reader.fieldnames or [])
            for where, column in [("dataset.arch_column", arch_column)] + [
                (f"dataset.choice_columns.{i}", c) for i, c in enumerate(self.choice_columns)
            ]:
                if column not in self.header:
                    allowed = ", ".join(self.header)
                    raise TableProblem(where, f"no column {column!r} in {path.name}; allowed: {allowed}")
            rows = list(reader)
        if not rows:
            raise TableProblem("dataset.path", f"{path.name} has no rows")
        self.arch = [row[arch_column] for row in rows]
        self.choices = [{c: row[c] or "" for c in self.choice_columns} for row in rows]
        keys = {arch_column, *self.choice_columns}
        self.columns: dict[str, list[float]] = {}
        for column in self.header:
            if column in keys:
                continue
            values = [_float(row[column]) for row in rows]
            if all(v is not None for v in values):  # a column with any text in it is not a metric
                self.columns[column] = values  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.arch)

    def metrics(self, row: int) -> Metrics:
        """The row's figures (empty cells left out)."""
        return {c: v[row] for c, v in self.columns.items() if math.isfinite(v[row])}


_TABLES: OrderedDict[tuple[Any, ...], SearchTable] = OrderedDict()
_LOCK = threading.Lock()


def resolve_path(dataset: Any, base: Path | None = None) -> Path:
    """The table file: `dataset.path`, relative to `base` when given and relative."""
    path = Path(dataset.path).expanduser()
    return base / path if base is not None and not path.is_absolute() else path


def load_table(dataset: Any, base: Path | None = None) -> SearchTable:
    """The spec's table, read once per process while the file is unchanged (size and mtime)."""
    path = resolve_path(dataset, base)
    try:
        st = path.stat()
    except OSError as exc:
        raise TableProblem("dataset.path", f"{dataset.path!r}: cannot read it ({exc.strerror})") from None
    if not path.is_file():  # also refuses devices and FIFOs, which would block or never end
        raise TableProblem("dataset.path", f"{dataset.path!r} is not a regular file")
    if st.st_size > MAX_TABLE_BYTES:
        raise TableProblem("dataset.path", f"{dataset.path!r} is over {MAX_TABLE_BYTES // 2**20} MiB")
    choices = tuple(dataset.choice_columns) if dataset.choice_columns is not None else None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, dataset.arch_column, choices)
    with _LOCK:
        table = _TABLES.get(key)
        if table is not None:
            _TABLES.move_to_end(key)
            return table
    try:
        table = SearchTable(path, dataset.arch_column, choices)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TableProblem("dataset.path", f"{dataset.path!r} is not a readable CSV file: {exc}") from None
    with _LOCK:
        _TABLES[key] = table
        while len(_TABLES) > 4:
            _TABLES.popitem(last=False)
    return table


def check_table(spec: Any, base: Path | None = None) -> SearchTable:
    """Everything the spec asks of its table: the file, its columns, objectives and bounds on numeric
    columns, and (for nb201) cell strings in the arch column. Raises TableProblem naming the field."""
    table = load_table(spec.dataset, base)
    numeric = ", ".join(table.columns)
    named = [(f"objectives.{i}.metric", o.metric) for i, o in enumerate(spec.objectives)]
    named += [(f"constraints.columns.{c}", c) for c in spec.constraints.columns]
    for where, column in named:
        if column not in table.columns:
            what = "not a numeric column" if column in table.header else "no column"
            raise TableProblem(where, f"{what} {column!r} in {table.path.name}; allowed: {numeric}")
    if not table.choice_columns:
        from worker.nas.spaces.nb201 import parse_arch

        for line, arch in enumerate(table.arch, start=2):
            try:
                parse_arch(arch)
            except ValueError as err:
                raise TableProblem("dataset.arch_column", f"line {line}: {err}") from None
    return table


def free_columns(spec: Any) -> list[str]:
    """Columns known without evaluating: every objective after the first, and every bounded column."""
    names = [o.metric for o in spec.objectives[1:]] + list(spec.constraints.columns)
    return list(dict.fromkeys(n for n in names if n != spec.objectives[0].metric))


_SPACES: OrderedDict[tuple[int, tuple[str, ...]], tuple[SearchTable, Any]] = OrderedDict()


def table_space(spec: Any, table: SearchTable) -> Any:
    """The table's space (categorical restricted to its rows, or nb201), whose `cost(genome)` gives the
    row's free columns; `row_of(genome)` finds a genome's row (KeyError when the table lacks it).

    Building it indexes every row (seconds for 10,000), and a service step or job asks for it each time:
    a built one is kept per table and handed out as a shallow copy, since the lifecycle wraps the
    instance's operators (and the copies share the read-only indexes)."""
    key = (id(table), tuple(free_columns(spec)))
    with _LOCK:
        hit = _SPACES.get(key)
        if hit is not None and hit[0] is table:
            _SPACES.move_to_end(key)
            return copy.copy(hit[1])
    space = _build_space(spec, table)
    with _LOCK:
        _SPACES[key] = (table, space)
        while len(_SPACES) > 4:
            _SPACES.popitem(last=False)
    return copy.copy(space)


def _build_space(spec: Any, table: SearchTable) -> Any:
    if table.choice_columns:
        from worker.nas.spaces.categorical import CategoricalSpace

        values = {c: list(dict.fromkeys(r[c] for r in table.choices)) for c in table.choice_columns}
        space: Any = CategoricalSpace(CategoricalSpace.Options(choices=values, allowed=table.choices))
        index = {space.canonical({"choices": r}): i for i, r in reversed(list(enumerate(table.choices)))}

        def key(genome: Genome) -> str:
            return space.canonical(genome)
    else:
        from worker.nas.spaces.nb201 import NB201Space

        space = NB201Space()
        index = {a: i for i, a in reversed(list(enumerate(table.arch)))}

        def key(genome: Genome) -> str:
            arch = genome["arch"]
            return arch if arch in index else space.validate(genome)["arch"]

    def row_of(genome: Genome) -> int:
        return index[key(genome)]  # duplicates: the first row answers

    free = free_columns(spec)

    def cost(genome: Genome) -> dict[str, float]:
        try:
            row = row_of(genome)
        except (KeyError, ValueError, TypeError):
            return {}
        return {c: table.columns[c][row] for c in free if math.isfinite(table.columns[c][row])}

    describe = space.describe

    def describe_row(genome: Genome) -> str:  # the row's name first: what the table and its users call it
        try:
            name = f"{table.arch_column} {table.arch[row_of(genome)]}"
        except (KeyError, ValueError, TypeError):
            return describe(genome)
        return name if not table.choice_columns else f"{name}: {describe(genome)}"

    space.row_of, space.cost, space.table, space.describe = row_of, cost, table, describe_row
    return space


@dataclass
class TableOutcome:
    """What a lookup hands back, shaped as the training evaluator's outcome (no checkpoint, one point)."""

    result: Result
    checkpoint: str | None = None
    curve: list[dict[str, float]] = field(default_factory=list)


class TableEvaluator:
    """`evaluate(genome, report, **job)` answered from the table: the row's figures are the metrics."""

    def __init__(self, spec: Any, space: Any, objective: Any = None) -> None:
        from worker.nas.objectives import Objective

        self.space, self.table = space, space.table
        self.objective = objective or Objective.from_spec(spec)
        self.arch_column = spec.dataset.arch_column

    def evaluate(
        self, genome: Genome, report: Callable[[int, Metrics], Any] | None = None, **_job: Any
    ) -> TableOutcome:
        try:
            row = self.space.row_of(genome)
        except (KeyError, ValueError, TypeError):
            return TableOutcome(Result(status="failed", error=f"not a row of {self.table.path.name}"))
        metrics = self.table.metrics(row)
        if report is not None:
            report(1, metrics)
        missing = [t.metric for t in self.objective.terms if t.metric not in metrics]
        if missing:
            error = f"no value in column(s) {missing}"
            return TableOutcome(Result(status="failed", metrics=metrics, error=error))
        fitness = self.objective.fitness(metrics)  # None: a bound is broken (the lifecycle says which)
        return TableOutcome(Result(status="done", fitness=fitness, metrics=metrics), curve=[metrics])

    def arch_of(self, genome: Genome) -> str | None:
        try:
            return self.table.arch[self.space.row_of(genome)]
        except (KeyError, ValueError, TypeError):
            return None


# The hypervolume reference of a table search: each objective's worst table value, this share of its range
# further out (1.1 on objectives scaled to [0, 1]: HW-GPT-Bench's convention, as `nasboard bench tabular`).
REFERENCE_MARGIN = 0.1


def table_summary(spec: Any, space: Any, ranked: list[Any]) -> dict[str, Any]:
    """A table search's result (`summary.table`, the API's `result.table`): the front it found as arch
    ids, and with two or more objectives its hypervolume against the table's own front over the rows that
    meet the bounds, with the reference REFERENCE_MARGIN beyond each objective's worst table value."""
    from worker.nas.objectives import Objective, hypervolume, pareto_front

    table = space.table
    objective = Objective.from_spec(spec)
    done = [(t, objective.vector(t.result.metrics)) for t in ranked if t.result is not None]
    done = [(t, v) for t, v in done if v is not None]
    front = [done[i][0] for i in pareto_front([v for _, v in done])] if done else []
    front.sort(key=lambda t: objective.vector(t.result.metrics), reverse=True)
    out: dict[str, Any] = {
        "path": str(table.path),
        "rows": len(table),
        "arch_column": table.arch_column,
        "objectives": [{"column": t.metric, "goal": t.goal} for t in objective.terms],
        "evaluated": len(done),
        "front": [table.arch[space.row_of(t.genome)] for t in front],
        "front_candidates": [t.cid for t in front],
        "best": table.arch[space.row_of(ranked[0].genome)] if ranked else None,
        "hypervolume": None,
    }
    if not objective.multi:
        return out
    rows = [objective.vector(table.metrics(r)) for r in range(len(table))]
    points = [v for v in rows if v is not None]
    worst = [min(p[j] for p in points) for j in range(len(objective.terms))]
    span = [max(p[j] for p in points) - worst[j] for j in range(len(objective.terms))]
    ref = [w - REFERENCE_MARGIN * s for w, s in zip(worst, span, strict=True)]
    true_front = pareto_front(points)
    true_hv = hypervolume([points[i] for i in true_front], ref)
    found = hypervolume([v for _, v in done], ref)
    out["hypervolume"] = {
        "reference": [t.natural(r) for t, r in zip(objective.terms, ref, strict=True)],
        "found": found,
        "true_front": true_hv,
        "ratio": found / true_hv if true_hv > 0 else None,
        "true_front_size": len(true_front),
    }
    return out
