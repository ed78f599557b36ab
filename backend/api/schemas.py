"""Pydantic response models: the OpenAPI document generated from them is the client contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. `strategy.population`")
    message: str
    allowed: list[Any] | None = Field(None, description="the allowed values, when the field is a choice")


class ValidationErrorBody(BaseModel):
    detail: list[FieldError]


class Message(BaseModel):
    detail: str


# Error answers for the routes' `responses=` (the OpenAPI document must list what a route can answer).
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorBody, "description": "each field, its problem and the allowed values"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message, "description": "no such row"}}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Message, "description": "not allowed now"}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Message, "description": "stored, but the queue is unreachable (the search is failed)"}
}


class SearchCreated(BaseModel):
    id: int = Field(description="the search (with `repeats` > 1: the group's first)")
    status: str
    group_id: int | None = Field(None, description="the group of a spec with `repeats` > 1")
    search_ids: list[int] = Field(default_factory=list, description="every search stored, in seed order")


class SearchStatus(BaseModel):
    id: int
    status: str


class Best(BaseModel):
    candidate_id: int
    fitness: float | None
    metrics: dict[str, Any] = Field(default_factory=dict)


class SearchListItem(BaseModel):
    id: int
    name: str
    status: str
    progress: float
    space: str | None = None
    strategy: str | None = None
    dataset: str | None = None
    best_fitness: float | None = None
    best_candidate_id: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    created_by: str | None = Field(None, description="the API token that submitted it (None: auth off)")
    group_id: int | None = Field(None, description="its group when submitted with `repeats` > 1")


class SearchList(BaseModel):
    items: list[SearchListItem]
    total: int


class Retrained(BaseModel):
    candidate_id: int | None = None
    epochs: int | None = None
    test_accuracy: float | None = None
    test_accuracy_std: float | None = None


class TableObjective(BaseModel):
    column: str
    goal: Literal["maximize", "minimize"]


class TableHypervolume(BaseModel):
    reference: list[float] = Field(
        description="in the columns' units: each objective's worst table value, 10 % of its range further"
    )
    found: float = Field(description="hypervolume of the rows the search evaluated")
    true_front: float = Field(description="hypervolume of the table's own front (rows meeting the bounds)")
    ratio: float | None = Field(description="found / true_front")
    true_front_size: int


class TableResult(BaseModel):
    """What a table search (dataset.name: table) found, by the engine (worker/nas/evaluation/table_search)."""

    path: str
    rows: int = Field(description="rows in the table")
    arch_column: str
    objectives: list[TableObjective]
    evaluated: int = Field(description="rows evaluated that meet the bounds")
    front: list[str] = Field(description="the arch-column values of the rows on the front found")
    front_candidates: list[int] = Field(description="their candidate ids")
    best: str | None = Field(description="the arch-column value of the best row (first objective)")
    hypervolume: TableHypervolume | None = Field(description="with two or more objectives")


class SearchResult(BaseModel):
    """What a finished search handed back (the final stage's pick and figures)."""

    candidate_id: int | None = None
    label: str | None = Field(None, description="the space's short description of the picked network")
    test_accuracy: float | None = Field(
        None, description="mean over final.repeats (None: top_k 0 and no test)"
    )
    test_accuracy_std: float | None = None
    val_accuracy: float | None = None
    params: float | None = None
    flops: float | None = None
    latency_ms: float | None = None
    latency_ms_ort: float | None = Field(
        None, description="batch-1 latency of the ONNX export in ONNX Runtime"
    )
    int8_accuracy: float | None = Field(None, description="test accuracy of the int8 (quantised) ONNX model")
    latency_ms_int8: float | None = Field(None, description="its batch-1 latency in ONNX Runtime (CPU)")
    int8_speedup: float | None = Field(
        None, description="latency_ms_ort / latency_ms_int8, timed back to back"
    )
    size_bytes_int8: float | None = None
    size_bytes_fp32: float | None = Field(None, description="size of the fp32 ONNX file")
    int8_method: str | None = Field(None, description="static (calibrated) or dynamic quantisation")
    int8_error: str | None = Field(None, description="why the int8 model could not be made, if it failed")
    cpu_features: str | None = Field(None, description="the worker's CPU and its int8/bf16 instruction sets")
    int8_units: bool | None = Field(None, description="the CPU has VNNI or AMX (int8 usually pays)")
    search_epochs: float | None = Field(None, description="epochs it trained during the search")
    final_epochs: int | None = Field(None, description="epochs of its final training on train+validation")
    repeats: int = 0
    retrained: list[Retrained] = Field(
        default_factory=list, description="every candidate the final retrained"
    )
    stop_reason: str | None = None
    search_seconds: float | None = None
    final_seconds: float | None = None
    wall_seconds: float | None = None
    final_error: str | None = None
    artefacts: list[str] = Field(default_factory=list, description="formats of the exported best model")
    table: TableResult | None = Field(None, description="a table search's front and hypervolume")


class SearchDetail(BaseModel):
    id: int
    name: str
    spec: dict[str, Any]
    status: str
    progress: float
    n_candidates: int
    n_done: int
    n_failed: int
    best: Best | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    elapsed_seconds: float | None = None
    eta_seconds: float | None = None
    error: str | None = None
    seq: int = 0
    created_by: str | None = Field(None, description="the API token that submitted it (None: auth off)")
    group_id: int | None = Field(None, description="its group when submitted with `repeats` > 1")
    result: SearchResult | None = Field(None, description="the final stage's pick and test figures, once run")


class CandidateSummary(BaseModel):
    id: int
    seq: int
    status: str
    genome: dict[str, Any] | None = Field(None, description="absent when `fields` leaves it out")
    fitness: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    origin: dict[str, Any] | None = None
    label: str | None = None
    rung: int = Field(0, description="multi-fidelity rung reached (0: the first, or no schedule)")
    epochs: int | None = Field(None, description="epochs trained so far (None: never trained)")


class CandidatePage(BaseModel):
    items: list[CandidateSummary]
    next_after: int = Field(description="pass as `after` on the next call to get only what changed since")


class CurvePoint(BaseModel):
    model_config = ConfigDict(extra="allow")
    epoch: int
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_f1: float | None = None
    seconds: float | None = None


class Graph(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class RungScore(BaseModel):
    rung: int
    fitness: float | None = None


class CandidateDetail(BaseModel):
    id: int
    search_id: int
    seq: int
    status: str
    genome: dict[str, Any]
    label: str | None = None
    graph: Graph | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    fitness: float | None = None
    curve: list[CurvePoint] = Field(default_factory=list)
    error: str | None = None
    origin: dict[str, Any] | None = None
    worker: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    artefacts: list[str] = Field(default_factory=list, description="formats available for download")
    rung: int = 0
    epochs: int | None = None
    rungs: list[RungScore] = Field(
        default_factory=list, description="fitness at each rung trained to: the first, then each promotion"
    )


class Pareto(BaseModel):
    objectives: list[str]
    goals: list[Literal["maximize", "minimize"]] = Field(description="each objective's direction, in order")
    items: list[CandidateSummary] = Field(description="candidates on the first non-dominated front")
    all: list[CandidateSummary] = Field(description="every finished candidate, for the background cloud")


class ImportanceItem(BaseModel):
    decision: str = Field(description="a decision named by the space, e.g. `edge 0→3` or `layer 2 filters`")
    importance: float = Field(description="share of the fitness variance the decision explains alone (0-1)")
    best_choice: str | int | float | bool | None = Field(
        description="the value with the highest mean fitness (null: does not apply, e.g. no such layer)"
    )
    worst_choice: str | int | float | bool | None = Field(
        description="the value with the lowest mean fitness"
    )


class Importance(BaseModel):
    items: list[ImportanceItem] = Field(description="decisions that vary, most important first")
    n_candidates: int = Field(
        description="finished candidates used (an evenly spaced sample of 2,000 when there are more)"
    )
    n_finished: int = Field(description="done candidates with a fitness")
    method: str
    reason: str | None = Field(
        None, description="why `items` is empty (too few candidates, an unsupported space)"
    )


class DecisionColumn(BaseModel):
    name: str = Field(description="the space's name for the decision, e.g. `edge 0→1`")
    choices: list[Any] = Field(description="its values among the candidates, sorted; null: not applicable")
    codes: list[int] = Field(description="per candidate (in `ids` order), the index of its choice")


class Decisions(BaseModel):
    ids: list[int] = Field(description="done candidates with a fitness, by id")
    decisions: list[DecisionColumn]
    reason: str | None = Field(None, description="why `decisions` is empty (a space that names none)")


class StrategyStats(BaseModel):
    model_config = ConfigDict(extra="allow")
    strategy: str
    steps: list[dict[str, Any]] = Field(
        default_factory=list, description="per controller step: reward, baseline, entropy when recorded"
    )


class TimelineItem(BaseModel):
    candidate_id: int
    label: str | None = None
    worker: str
    status: str
    attempt: int = Field(description="training attempts so far (a promotion or a lost worker adds one)")
    queued_at: datetime | None = Field(None, description="when the candidate was created (queued)")
    started_at: datetime = Field(description="start of its latest attempt")
    finished_at: datetime | None = Field(None, description="None while it trains")


class WorkerTime(BaseModel):
    worker: str
    busy_seconds: float = Field(description="time with at least one candidate training")
    idle_seconds: float = Field(description="gaps between the worker's first start and its last end")
    candidates: int


class QueueWait(BaseModel):
    median_seconds: float | None = None
    max_seconds: float | None = None
    n: int = Field(description="candidates measured: those on their first attempt")


class Timeline(BaseModel):
    items: list[TimelineItem] = Field(description="started candidates, oldest start first")
    workers: list[WorkerTime]
    queue_wait: QueueWait = Field(description="seconds from queued to started")
    now: datetime = Field(description="the server's clock: the end of the bars still training")
    limit: int = Field(description="at most this many candidates, the latest started")
    truncated: bool = Field(description="older started candidates were left out")


class FailureGroup(BaseModel):
    reason: str = Field(description="the error with numbers and ids replaced by <n> and <id>")
    count: int
    candidate_ids: list[int] = Field(description="the newest of the group (at most 50)")
    example: str | None = Field(None, description="the newest error of the group, as recorded")


class Failures(BaseModel):
    groups: list[FailureGroup] = Field(description="largest first")
    n_failed: int = Field(description="failed candidates read")
    limit: int = Field(description="at most this many failed candidates, the newest")
    truncated: bool


class PluginInfo(BaseModel):
    name: str
    description: str = ""
    available: bool = True
    error: str | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="JSON schema of the Options model")
    defaults: dict[str, Any] = Field(default_factory=dict)


class DatasetInfo(BaseModel):
    name: str
    available: bool
    where: str | None = None
    note: str | None = None


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable when the database or the broker failed")
    database: str = Field(description="ok, or error: <what failed>")
    broker: str = Field("ok", description="ok, unchecked (a broker without a cheap probe), or error: ...")
    version: str


class HypervolumePoint(BaseModel):
    evaluation: int = Field(description="finished candidates so far (done, failed, infeasible), from 1")
    hypervolume: float = Field(description="of the front so far; holds until the next point")


class Hypervolume(BaseModel):
    objectives: list[str]
    goals: list[Literal["maximize", "minimize"]]
    reference: list[float] | None = Field(
        description="the reference point, one value per objective in the metric's own units (null: no "
        "feasible candidate yet)"
    )
    reference_rule: str = Field(description="how the reference point was chosen")
    n_evaluations: int
    points: list[HypervolumePoint] = Field(
        description="a step curve: where the hypervolume changes, and the last evaluation"
    )
    reason: str | None = Field(None, description="why `points` is empty (a single objective, no results)")


class StepPoint(BaseModel):
    evaluation: int = Field(description="finished candidates so far, from 1")
    value: float | None = Field(description="best fitness or hypervolume so far; holds until the next point")


class BandPoint(BaseModel):
    evaluation: int
    n: int = Field(description="members that reached this evaluation with a value")
    mean: float
    std: float = Field(description="sample standard deviation across members (n - 1); 0 for one")
    min: float
    max: float


class Spread(BaseModel):
    n: int = Field(description="members whose final training reported a test accuracy")
    mean: float
    std: float = Field(description="sample standard deviation (n - 1); 0 for one")
    min: float
    max: float


class GroupMember(BaseModel):
    search_id: int
    seed: int
    status: str
    n_evaluations: int
    points: list[StepPoint] = Field(description="a step curve: where the value changes, and the last one")
    test_accuracy: float | None = Field(None, description="its final training's test accuracy, once run")


class GroupDetail(BaseModel):
    id: int
    name: str
    spec: dict[str, Any] = Field(description="the spec as submitted (base seed, `repeats`)")
    created_at: datetime | None = None
    created_by: str | None = None
    curve: Literal["best_so_far", "hypervolume"] = Field(
        description="best_so_far: highest fitness so far (one objective); hypervolume: of the front so far"
    )
    objectives: list[str]
    goals: list[Literal["maximize", "minimize"]]
    reference: list[float] | None = Field(
        None, description="hypervolume only: the reference point in the metrics' own units"
    )
    reference_rule: str | None = None
    members: list[GroupMember]
    band: list[BandPoint] = Field(
        description="mean, std and min/max across members where any member's curve changes"
    )
    test_accuracy: Spread | None = Field(None, description="spread of the final test accuracy across seeds")


class GroupComparison(BaseModel):
    groups: list[GroupDetail] = Field(description="in the order asked, all against one reference point")


class GroupListItem(BaseModel):
    id: int
    name: str
    created_at: datetime | None = None
    search_ids: list[int]
    statuses: dict[str, int] = Field(description="members per search status")


class GroupList(BaseModel):
    items: list[GroupListItem]
    total: int


class LatencyPoint(BaseModel):
    candidate_id: int
    predicted: float = Field(description="latency_ms_pred: ms, predicted from the genome before training")
    measured: float = Field(description="latency_ms_ort: ms, ONNX Runtime batch 1, measured after training")


class LatencyPredictorAnswer(BaseModel):
    device_kind: str | None = Field(
        description="what the predictor's operator tables were timed on (CPU, ONNX Runtime, threads); "
        "null when the search predicts no latency"
    )
    tolerance: float = Field(description="the band `within_10pct` counts: ±0.10 of the measured figure")
    n: int = Field(description="candidates with both a predicted and a measured latency")
    within_10pct: float | None = Field(description="share (0..1) of predictions within ±10 % of measured")
    spearman: float | None = Field(description="rank correlation of predicted and measured (n ≥ 3)")
    median_abs_pct_error: float | None = Field(description="median |predicted − measured| / measured, %")
    points: list[LatencyPoint]
