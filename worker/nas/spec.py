"""The search spec: one document accepted by the REST API, `nasboard search` and `nasboard submit`.

Validated with pydantic so every error names its field (`loc`) and, for choices, the allowed values.
Space and strategy options are validated against the option model their class declares, so the form
the dashboard builds and the validation here come from the same schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from worker.nas.objectives import natural_goal
from worker.nas.registry import SPACES, STRATEGIES, space_class, strategy_class
from worker.nas.search_domain import SearchDomain, not_searchable, searchable

Metric = Literal[
    "val_accuracy",
    "val_loss",
    "val_f1",
    "train_loss",
    "params",
    "flops",
    "latency_ms",
    "peak_memory_mb",
    "latency_ms_ort",  # with deployment.ort_latency, batch 1 ...
    "latency_ms_ort_b8",  # ... and batch deployment.batch (one of ORT_BATCHES)
    "latency_ms_ort_b16",
    "latency_ms_ort_b32",
    "latency_ms_ort_b64",
    "latency_ms_ort_b128",
    "latency_ms_ort_b256",
]
METRICS: tuple[str, ...] = get_args(Metric)
ORT_BATCHES = (8, 16, 32, 64, 128, 256)
DatasetName = Literal["fashion-mnist", "mnist", "digits", "cifar10", "npz", "table"]
# A table column named as an objective or a constraint (dataset.name: table); checked against the header.
COLUMN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"


# Ids and cursors live in PostgreSQL INTEGER columns; seeds feed numpy's 32-bit seeding.
MAX_ID = 2**31 - 1
MAX_SEED = 2**32 - 1
MAX_REPEATS = 20  # searches in one group: each runs the whole budget


# The bounds of the searchable recipe fields: a fixed value and every value a search may pick obey them.
_BatchSize = Annotated[int, Field(ge=1, le=8192)]
_Optimizer = Literal["sgd", "adam", "adamw"]
_Lr = Annotated[float, Field(gt=0, le=10)]
_Momentum = Annotated[float, Field(ge=0, lt=1)]
_WeightDecay = Annotated[float, Field(ge=0, le=1)]
_Schedule = Literal["constant", "cosine", "onecycle"]
_LabelSmoothing = Annotated[float, Field(ge=0, lt=1)]
_Erasing = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    # inf/NaN (JSON 1e999, NaN, Infinity) would poison fitness arithmetic and the stored JSON.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Typed(BaseModel):
    """`{type: NAME, ...options}`: options are checked against the named class's Options model."""

    model_config = ConfigDict(extra="allow")
    type: str

    def options_dict(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SpaceSpec(_Typed):
    type: str = Field("layers", description=f"one of: {', '.join(SPACES)}")

    @model_validator(mode="after")
    def _check(self) -> SpaceSpec:
        if self.type not in SPACES:
            raise ValueError(f"type: unknown space {self.type!r}; allowed: {', '.join(SPACES)}")
        space_class(self.type).Options.model_validate(self.options_dict())
        return self


class StrategySpec(_Typed):
    type: str = Field("regularized-evolution", description=f"one of: {', '.join(STRATEGIES)}")

    @model_validator(mode="after")
    def _check(self) -> StrategySpec:
        if self.type not in STRATEGIES:
            raise ValueError(f"type: unknown strategy {self.type!r}; allowed: {', '.join(STRATEGIES)}")
        strategy_class(self.type).Options.model_validate(self.options_dict())
        return self


class DatasetSpec(_Strict):
    # Stated in the JSON schema too, so clients and fuzzers know an npz dataset needs its file.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"name": {"const": "npz"}}, "required": ["name"]},
            "then": {"required": ["path"], "properties": {"path": {"type": "string"}}},
        }
    )

    name: DatasetName = "digits"
    path: str | None = Field(
        None, description="directory (IDX, CIFAR batches), .npz file, or .csv file (name: table)"
    )
    arch_column: str | None = Field(
        None, max_length=64, description="name: table: the column naming each row (its architecture id)"
    )
    choice_columns: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None,
        max_length=256,
        description="name: table: the columns whose values define a row (the categorical space's "
        "choices; an empty cell means 'not present'); none: the arch column holds NAS-Bench-201 cells",
    )
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    train_subset: int | None = Field(
        None, ge=100, le=100_000_000, description="use only this many training samples"
    )
    # Searchable (a value or {choices: [...]}/{uniform: [lo, hi]}: see worker.nas.search_domain).
    augment: Annotated[bool | SearchDomain, searchable(bool)] = Field(
        False,
        description="random crop / flip / erasing in the final training (search too: augment_in_search)",
    )
    erasing: Annotated[_Erasing | SearchDomain, searchable(_Erasing)] = Field(
        0.5, description="share of augmented samples given a random erased box; 0 turns it off"
    )
    augment_in_search: bool = Field(
        False,
        description="with augment: true, the search's trainings are augmented too, so candidates are ranked "
        "as the final recipe trains them (~10 % slower per sample)",
    )

    @field_validator(
        "name",
        "path",
        "validation_fraction",
        "train_subset",
        "arch_column",
        "choice_columns",
        "augment_in_search",
        mode="before",
    )
    @classmethod
    def _fixed(cls, value: Any, info: ValidationInfo) -> Any:
        return not_searchable(value, info)

    @model_validator(mode="after")
    def _augment_in_search_needs_augment(self) -> DatasetSpec:
        if self.augment_in_search and self.augment is not True:
            raise ValueError("augment_in_search: needs augment: true (a fixed value, not a searched one)")
        return self

    @model_validator(mode="after")
    def _table_fields(self) -> DatasetSpec:
        """A table names its CSV file and arch column; the table fields mean nothing for other data."""
        if self.name != "table":
            for field in ("arch_column", "choice_columns"):
                if getattr(self, field) is not None:
                    raise ValueError(f"{field}: only for dataset.name 'table'")
            return self
        if not self.path or not self.path.lower().endswith(".csv"):
            raise ValueError("path: dataset.name 'table' needs the path of a .csv file")
        if not self.arch_column:
            raise ValueError("arch_column: dataset.name 'table' needs the column naming each row")
        if self.choice_columns is not None and len(set(self.choice_columns)) != len(self.choice_columns):
            raise ValueError("choice_columns: a column is named twice")
        return self


NOT_SEARCHABLE = (
    "epochs",
    "early_stopping_patience",
    "max_seconds",
    "data_fraction",
    "zero_cost_proxies",
    "precision",
)


class TrainingSpec(_Strict):
    epochs: int = Field(2, ge=1, le=500)
    # The recipe's hyper-parameters: each a value, or a searched one (choices or a range), which the
    # search then picks per candidate as part of its genome (worker.nas.spaces.recipe).
    batch_size: Annotated[_BatchSize | SearchDomain, searchable(_BatchSize)] = 128
    optimizer: Annotated[_Optimizer | SearchDomain, searchable(_Optimizer)] = "adamw"
    lr: Annotated[_Lr | SearchDomain, searchable(_Lr)] = 3e-3
    momentum: Annotated[_Momentum | SearchDomain, searchable(_Momentum)] = 0.9
    weight_decay: Annotated[_WeightDecay | SearchDomain, searchable(_WeightDecay)] = 5e-4
    schedule: Annotated[_Schedule | SearchDomain, searchable(_Schedule)] = "onecycle"
    label_smoothing: Annotated[_LabelSmoothing | SearchDomain, searchable(_LabelSmoothing)] = 0.0
    early_stopping_patience: int | None = Field(None, ge=1, le=500)
    max_seconds: float | None = Field(None, gt=0, description="time limit per candidate")
    data_fraction: float = Field(1.0, gt=0, le=1, description="share of the training split used")
    zero_cost_proxies: bool = Field(
        True,
        description="score every candidate at initialisation on one batch (NASWOT, synflow, grad-norm), "
        "stored as the metrics zc_naswot, zc_synflow (natural log), zc_grad_norm and zc_seconds",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="autocast dtype; auto = bf16 on cuda (fp16 where bf16 is missing) and on CPUs with "
        "bf16 units (AMX or AVX512-BF16), fp32 elsewhere",
    )

    @field_validator(*NOT_SEARCHABLE, mode="before")
    @classmethod
    def _fixed(cls, value: Any, info: ValidationInfo) -> Any:
        return not_searchable(value, info)


class ObjectiveSpec(_Strict):
    # A trained search's metrics (METRICS), or any column of a table (dataset.name: table).
    metric: str = Field(
        "val_accuracy",
        pattern=COLUMN,
        description="one of: " + ", ".join(METRICS) + "; with dataset.name 'table': a column of the table",
        json_schema_extra={"examples": list(METRICS)},
    )
    goal: Literal["maximize", "minimize"] | None = Field(
        None,
        description="default: the metric's natural direction (accuracy up; loss, size, latency down); "
        "required for a table column",
    )
    weight: float = Field(1.0, description="weight in a weighted sum (single-objective strategies)")
    baseline: float | None = Field(None, description="subtract this (e.g. a reference accuracy)")

    @model_validator(mode="after")
    def _resolve_goal(self) -> ObjectiveSpec:
        # Resolved here, once: the stored spec then says which way every objective goes.
        if self.goal is None:
            self.goal = natural_goal(self.metric)
        return self


class Constraints(_Strict):
    max_params: int | None = Field(None, ge=1, le=10**15)
    max_flops: float | None = Field(None, gt=0)
    max_latency_ms: float | None = Field(None, gt=0)
    max_latency_ms_ort: float | None = Field(
        None,
        gt=0,
        description="bound on latency_ms_ort (batch 1 in ONNX Runtime; needs deployment.ort_latency); a "
        "layers or vit candidate predicted over it (latency_ms_pred) is not trained",
    )
    columns: dict[Annotated[str, Field(pattern=COLUMN)], float] = Field(
        default_factory=dict,
        max_length=64,
        description="dataset.name 'table': column -> the largest value a row may have (e.g. "
        "{lat_ms_a100: 15}); a row over it, or without a value there, is infeasible",
    )


class Budget(_Strict):
    max_candidates: int = Field(20, ge=1, le=100_000)
    max_minutes: float | None = Field(None, gt=0)
    target: float | None = Field(None, description="stop once a candidate's fitness reaches this")


class MultiFidelity(_Strict):
    type: Literal["none", "asha", "async-hyperband", "successive-halving", "hyperband", "median-stopping"] = (
        Field(
            "none",
            description="asha / async-hyperband promote as soon as a rung has eta results (any parallelism); "
            "successive-halving / hyperband wait for a whole rung",
        )
    )
    min_epochs: int = Field(1, ge=1, le=500)  # training.epochs' range
    eta: int = Field(3, ge=2, le=100)


class FinalTraining(_Strict):
    top_k: int = Field(1, ge=0, le=20, description="retrain the best k on train+validation; 0 = skip")
    epochs: int | None = Field(None, ge=1, le=1000, description="default: the search's epochs")
    repeats: int = Field(1, ge=1, le=10, description="seeds per retrained candidate (mean ± std)")
    max_minutes: float | None = Field(
        None, gt=0, description="fit the final epochs into this time, from the speed measured in the search"
    )
    min_epoch_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="with max_minutes: candidates whose final training would get fewer than this share of "
        "the final epochs in that time rank after those that fit (0 = rank by validation alone)",
    )


class Deployment(_Strict):
    """How the networks would run where deployed: ONNX Runtime latency and int8 quantisation."""

    ort_latency: bool = Field(
        True,
        description="time every trained candidate's ONNX export in ONNX Runtime: metrics latency_ms_ort "
        "(batch 1) and latency_ms_ort_bN (N = batch), usable as objectives; under 1 s per candidate "
        "(metric ort_seconds)",
    )
    batch: int = Field(
        64,
        description="the larger batch ONNX Runtime latency is measured at; one of "
        + ", ".join(map(str, ORT_BATCHES)),
    )
    int8: bool = Field(
        True,
        description="final stage: quantise the best network to int8 in ONNX Runtime and report its test "
        "accuracy (int8_accuracy), batch-1 latency against fp32 (latency_ms_int8, int8_speedup) and size",
    )
    int8_method: Literal["static", "dynamic"] = Field(
        "static",
        description="static: weights and activations int8, activation ranges calibrated on training "
        "images; dynamic: int8 weights, activation ranges found at run time",
    )
    calibration_samples: int = Field(
        512, ge=16, le=50_000, description="training images the static quantisation calibrates on"
    )
    export_int8: bool = Field(
        True, description="export the int8 model beside the fp32 one, with its own card"
    )

    @field_validator("batch")
    @classmethod
    def _known_batch(cls, batch: int) -> int:
        if batch not in ORT_BATCHES:
            raise ValueError(f"batch {batch} is not one of {', '.join(map(str, ORT_BATCHES))}")
        return batch


class SearchSpec(_Strict):
    name: str = Field("search", max_length=200)
    space: SpaceSpec = Field(default_factory=lambda: SpaceSpec(type="layers"))
    strategy: StrategySpec = Field(default_factory=lambda: StrategySpec(type="regularized-evolution"))
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    objectives: list[ObjectiveSpec] = Field(default_factory=lambda: [ObjectiveSpec()], min_length=1)
    constraints: Constraints = Field(default_factory=Constraints)
    budget: Budget = Field(default_factory=Budget)
    multi_fidelity: MultiFidelity = Field(default_factory=MultiFidelity)
    final: FinalTraining = Field(default_factory=FinalTraining)
    deployment: Deployment = Field(default_factory=Deployment)
    parallelism: int = Field(1, ge=1, le=256)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    repeats: int = Field(
        1,
        ge=1,
        le=MAX_REPEATS,
        description="run the whole search this many times, with seeds seed, seed+1, ..., as one group "
        "(the group's page compares them); not final.repeats, which retrains the picked network",
    )
    warm_start_from: int | None = Field(
        None, ge=1, le=MAX_ID, description="id of an earlier search to seed from"
    )
    inherit_weights: bool = Field(False, description="start a mutated child from its parent's weights")

    @field_validator("repeats")
    @classmethod
    def _seeds_fit(cls, repeats: int, info: ValidationInfo) -> int:
        seed = info.data.get("seed")
        if seed is not None and seed + repeats - 1 > MAX_SEED:
            raise ValueError(f"seeds {seed}..{seed + repeats - 1} pass the largest seed {MAX_SEED}")
        return repeats

    @model_validator(mode="before")
    @classmethod
    def _table_goals(cls, data: Any) -> Any:
        """A table column has no natural direction: each objective of a table search says its goal
        (checked before ObjectiveSpec fills in a default)."""
        if not isinstance(data, dict) or not isinstance(data.get("dataset"), dict):
            return data
        if data["dataset"].get("name") != "table" or not isinstance(data.get("objectives"), list):
            return data
        for i, o in enumerate(data["objectives"]):
            if isinstance(o, dict) and o.get("goal") is None:
                raise ValueError(
                    f"objectives.{i}.goal: a table column has no natural direction; allowed: "
                    "maximize, minimize"
                )
        return data

    @model_validator(mode="after")
    def _metrics_known(self) -> SearchSpec:
        """A trained search's objectives are its metrics; a table search's are its columns (checked
        against the table's header where the file is read: evaluation/table_search.check_table)."""
        if self.dataset.name == "table":
            if self.space.type not in TABLE_SPACES:
                raise ValueError(f"space.type: a table is searched in {' or '.join(TABLE_SPACES)}")
            want = "categorical" if self.dataset.choice_columns else "nb201"
            if self.space.type != want:
                raise ValueError(
                    f"space.type: {want} for this table (categorical with dataset.choice_columns, "
                    "nb201 without: the arch column holds NAS-Bench-201 cells)"
                )
            if self.space.options_dict():
                raise ValueError("space: a table's space comes from its rows; give no space options")
            return self
        if self.space.type == "categorical" and not self.space.options_dict().get("choices"):
            raise ValueError("space.choices: the categorical space needs its choices (or a table dataset)")
        for i, o in enumerate(self.objectives):
            if o.metric not in METRICS:
                allowed = ", ".join(METRICS)
                raise ValueError(f"objectives.{i}.metric: unknown {o.metric!r}; allowed: {allowed}")
        if self.constraints.columns:
            raise ValueError("constraints.columns: only for dataset.name 'table'")
        return self

    @model_validator(mode="after")
    def _ort_metrics_measured(self) -> SearchSpec:
        """An objective or constraint on an ONNX Runtime latency needs it measured, at that batch."""
        wanted = [(f"objectives.{i}.metric", o.metric) for i, o in enumerate(self.objectives)]
        if self.constraints.max_latency_ms_ort is not None:
            wanted.append(("constraints.max_latency_ms_ort", "latency_ms_ort"))
        for where, metric in wanted:
            if not metric.startswith("latency_ms_ort"):
                continue
            if not self.deployment.ort_latency:
                raise ValueError(f"{where}: {metric} is measured only with deployment.ort_latency: true")
            if metric != "latency_ms_ort" and metric != f"latency_ms_ort_b{self.deployment.batch}":
                raise ValueError(
                    f"{where}: {metric} is not measured; deployment.batch is {self.deployment.batch}, "
                    f"so the batch figure is latency_ms_ort_b{self.deployment.batch}"
                )
        return self


TABLE_SPACES = ("categorical", "nb201")


def is_table(spec: Any) -> bool:
    """Whether a search looks its candidates up in a table instead of training them."""
    return spec.dataset.name == "table"


def repeat_specs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The searches a spec with `repeats: k` runs: the same spec k times with seeds seed, seed+1, ...,
    each with `repeats: 1` (a member cloned later is one search)."""
    base = int(spec.get("seed", 0))
    return [{**spec, "seed": base + i, "repeats": 1} for i in range(int(spec.get("repeats", 1)))]


def parse_spec(data: dict[str, Any]) -> SearchSpec:
    return SearchSpec.model_validate(data)
