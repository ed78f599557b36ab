"""The stored tabular-benchmark run: what `nasboard bench tabular --publish/--out` sends, and what the API
answers for it. Every list and string is bounded, so one document stays within the body limit's order."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.api.schemas import BandPoint, Spread
from worker.nas.registry import STRATEGIES

FORMAT = "nasboard.tabular-bench/1"
MAX_BUDGET = 100_000
MAX_REPEATS = 1000
MAX_OBJECTIVES = 8

Name = Annotated[str, Field(min_length=1, max_length=200)]
Goal = Literal["maximize", "minimize"]
Finite = Annotated[float, Field(allow_inf_nan=False)]
# Strategies a client ran: the registered ones (an unknown name is answered with the allowed values).
StrategyName = Literal.__getitem__(tuple(STRATEGIES))  # type: ignore[misc]
# [query, value]: the value from this query (from 1) until the next point; null before any value.
StepPoint = Annotated[
    tuple[Annotated[int, Field(ge=1, le=MAX_BUDGET)], Finite | None],
    Field(description="[query from 1, value until the next point (null: none yet)]"),
]
StepCurve = Annotated[list[StepPoint], Field(max_length=MAX_BUDGET)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableInfo(Strict):
    file: Name = Field(description="the table's file name (no directories)")
    rows: int = Field(ge=1, le=10_000_000, description="rows loaded")
    sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$", description="of the file's bytes")


class ObjectiveColumn(Strict):
    column: Name
    goal: Goal


class Machine(Strict):
    cpu: str = Field("", max_length=200)
    cores: int | None = Field(None, ge=1, le=100_000)
    platform: str = Field("", max_length=200)
    python: str = Field("", max_length=50)


class RunCurves(Strict):
    report: StepCurve = Field(description="the report value of the pick so far")
    hypervolume_ratio: StepCurve | None = Field(
        None, description="two or more objectives: the front so far's hypervolume over the table's"
    )


class BenchRun(Strict):
    seed: int = Field(ge=-(2**63), le=2**63 - 1)
    queries: int = Field(ge=0, le=MAX_BUDGET, description="distinct evaluations spent")
    failed: int = Field(0, ge=0, le=MAX_BUDGET)
    best_arch: str | None = Field(None, max_length=1000)
    best_fitness: Finite | None = None
    best_report: Finite | None = Field(None, description="the report column of the picked row")
    hypervolume_ratio: Finite | None = None
    seconds: Finite = Field(0.0, ge=0)
    curves: RunCurves

    @model_validator(mode="after")
    def _curves_fit(self) -> BenchRun:
        for name in ("report", "hypervolume_ratio"):
            curve = getattr(self.curves, name) or []
            queries = [q for q, _ in curve]
            if any(b <= a for a, b in zip(queries, queries[1:], strict=False)):
                raise ValueError(f"curves.{name}: queries must increase")
            if queries and queries[-1] != self.queries:
                raise ValueError(f"curves.{name}: the last point must be at query {self.queries} (queries)")
        return self


class BenchmarkRunIn(Strict):
    """One `nasboard bench tabular` invocation: one strategy, `repeats` searches on one table."""

    format: Literal["nasboard.tabular-bench/1"] = FORMAT
    name: str = Field("", max_length=200, description="a label (default: strategy on table)")
    table: TableInfo
    space: Literal["nb201", "categorical"]
    arch_column: Name
    report_column: Name
    objectives: list[ObjectiveColumn] = Field(
        min_length=1,
        max_length=MAX_OBJECTIVES,
        description="the search signal first, then costs known without training",
    )
    strategy: StrategyName  # type: ignore[valid-type]
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    budget: int = Field(ge=1, le=MAX_BUDGET, description="distinct evaluations per search")
    repeats: int = Field(ge=1, le=MAX_REPEATS)
    seed: int = Field(ge=-(2**63), le=2**63 - 1, description="repeat i used seed + i")
    hv_reference: list[Finite] | None = Field(None, max_length=MAX_OBJECTIVES)
    hv_true_front: Finite | None = Field(None, description="the table's own front's hypervolume")
    machine: Machine = Field(default_factory=Machine)
    started_at: datetime
    finished_at: datetime
    seconds: Finite = Field(ge=0)
    runs: list[BenchRun] = Field(min_length=1, max_length=MAX_REPEATS)

    @model_validator(mode="after")
    def _consistent(self) -> BenchmarkRunIn:
        if len(self.runs) != self.repeats:
            raise ValueError(f"runs: {len(self.runs)} given, repeats says {self.repeats}")
        multi = len(self.objectives) > 1
        for i, run in enumerate(self.runs):
            if run.queries > self.budget:
                raise ValueError(f"runs.{i}.queries: over the budget {self.budget}")
            if multi != (run.curves.hypervolume_ratio is not None):
                raise ValueError(
                    f"runs.{i}.curves.hypervolume_ratio: needed with two or more objectives, else absent"
                )
        if self.hv_reference is not None and len(self.hv_reference) != len(self.objectives):
            raise ValueError(f"hv_reference: one value per objective ({len(self.objectives)})")
        return self


class BenchmarkCreated(BaseModel):
    id: int
    url: str = Field(description="the dashboard page that shows it")


class BenchmarkListItem(BaseModel):
    id: int
    name: str
    table: TableInfo
    space: str
    report_column: str
    objectives: list[ObjectiveColumn]
    strategy: str
    budget: int
    repeats: int
    curve: Literal["report", "hypervolume_ratio"]
    final: Spread | None = Field(None, description="the curve's last value across repeats")
    created_at: datetime | None = None
    created_by: str | None = Field(None, description="the API token that stored it (None: auth off)")


class BenchmarkList(BaseModel):
    items: list[BenchmarkListItem]
    total: int


class BenchmarkDetail(BenchmarkListItem):
    """The stored document, and the engine's band and spreads over its curves."""

    document: dict[str, Any] = Field(
        description="the stored BenchmarkRunIn, as posted (not re-validated: a run stays readable after a "
        "strategy it names is removed)"
    )
    band: list[BandPoint] = Field(description="mean, std, min, max across repeats where a curve changes")
    half: Spread | None = Field(None, description="the curve's value at query budget/2 across repeats")
    half_query: int = Field(description="budget/2, rounded down (at least 1)")
