"""Latency from the genome, before any training: ONNX Runtime batch-1 milliseconds on this device kind.

First guess: the network's operators' times from the per-device table (worker/nas/latency_ops.py) summed,
plus ONNX Runtime's fixed cost per run once; for `layers` (IN_CONTEXT) the operators are timed in
neighbouring pairs as well, so each seam counts as the network pays it (a conv chain reorders into the
blocked layout once, not per conv). The table misses what the whole network shares or adds beyond that
(cache reuse, the run loop's per-node cost), so once a search has measured candidates (`latency_ms_ort`) a
small regression refines the guess: non-negative least squares of measured latency on [operator sum, MFLOPs,
operators of each kind, 1], each row weighted by 1 / measured so the fit minimises relative error (the ±10 %
the predictor is judged by). Non-negative: every term costs time. Counted by kind because what a timing
alone misses differs by kind: on a 2-core Intel Xeon (AMX) the table's misses on `vit` grew by about 6 µs
per attention block, not per token-MLP block.
A measured candidate also checks the table: one that comes in more than REFINE_OVER under its prediction
gives its operators another pass each (OpTable.refine; the lowest pass is kept), so entries that read high
during a burst of load come down as the search goes on, and the rows' features are recomputed.
The regression is kept only while it beats the plain sum out of sample (5-fold cross-validation on the
measured rows, median relative error). On a 2-core AMD EPYC the pairs' sum alone won on `layers` (median
error 1.4 %; operators alone 7 %) and the regression cut `vit`'s 9 % to 3 % (pairs there: 5 %, so `vit`
stays on operators); on the Xeon the regression won on both (benchmarks/latency_predictor.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from worker.nas.latency_ops import Op, OpTable, genome_ops, op_pairs
from worker.nas.types import Genome

SPACES = ("layers", "vit")
IN_CONTEXT = ("layers",)  # spaces whose operators are timed in neighbouring pairs (OpTable.chain_sum)
MIN_FIT = 8  # measured candidates before the regression replaces the plain sum
MAX_FIT = 2000  # the most recent measured candidates the regression is fitted on
CV_FOLDS = 5  # folds of the check that the regression beats the plain sum out of sample
# A measured network this much under its prediction has operators that read high: they get another pass.
# Whole-network timings on one idle worker repeat within about 1 % (benchmarks/latency_repeat.py).
REFINE_OVER = 0.05
# Operator kinds the regression counts, per space (the head and tail occur once in every network: the
# intercept has them).
COUNTED_KINDS = {"layers": ("conv", "pool", "dense"), "vit": ("vit-block:attn", "vit-block:tokmlp")}


def op_kind(key: str) -> str:
    """An operator's kind from its table key: its first field, and a `vit` block's mixer."""
    kind = key.split(":", 1)[0]
    if kind == "vit-block":
        return "vit-block:attn" if ":attn" in key else "vit-block:tokmlp"
    return kind


def supports(space: Any) -> bool:
    return getattr(space, "name", None) in SPACES


class LatencyPredictor:
    """Predicts `latency_ms_ort` of a space's genomes; learns from measured ones via `observe`."""

    def __init__(
        self,
        space: Any,
        *,
        threads: int = 1,
        cache_dir: Path | str | None = None,
        table: OpTable | None = None,
        in_context: bool | None = None,
    ) -> None:
        if not supports(space):
            raise ValueError(f"space {getattr(space, 'name', space)!r}: latency prediction knows {SPACES}")
        self.space = getattr(space, "base", space)  # a recipe-searching space wraps the architecture space
        self.table = table or OpTable(self.space.task, threads=threads, cache_dir=cache_dir)
        self.in_context = self.space.name in IN_CONTEXT if in_context is None else in_context
        self.rows: list[tuple[Genome, float]] = []  # (genome, measured ms)
        self._x: list[tuple[int, list[float]]] = []  # each row's features and the table generation of them
        self.coef: np.ndarray | None = None

    @property
    def device_kind(self) -> str:
        return self.table.kind

    def _arch(self, genome: Genome) -> Genome:
        return self.space.validate({k: v for k, v in genome.items() if k != "recipe"})

    def _ops(self, arch: Genome) -> list[Op]:
        head = getattr(self.space.options, "head", "gap")
        return genome_ops(self.space.name, arch, self.space.task, head)

    def features(self, genome: Genome) -> list[float]:
        """[operator sum + overhead (ms), MFLOPs, operators of each COUNTED_KINDS kind]."""
        arch = self._arch(genome)
        ops = self._ops(arch)
        op_sum = self.table.chain_sum(ops) if self.in_context else self.table.op_sum(ops)
        mflops = float(self.space.cost(arch).get("flops", 0.0)) / 1e6
        kinds = [op_kind(key) for key, _, _ in ops]
        counts = [float(kinds.count(k)) for k in COUNTED_KINDS[self.space.name]]
        return [op_sum + self.table.overhead, mflops, *counts]

    def base_ms(self, genome: Genome) -> float:
        """The table alone: operators' sum plus one run's overhead."""
        return self.features(genome)[0]

    def predict(self, genome: Genome) -> float:
        x = self.features(genome)
        if self.coef is None:
            return x[0]
        return max(float(np.dot(self.coef, [*x, 1.0])), 1e-3)

    def observe(self, genome: Genome, measured_ms: float, *, refit: bool = True, refine: bool = True) -> int:
        """A candidate's measured `latency_ms_ort`: one more row for the regression, and, if it measured
        well under its prediction, another pass for its operators (`refine`; off when a search replays the
        candidates it measured before). Returns the operator passes run."""
        if not (isinstance(measured_ms, int | float) and math.isfinite(measured_ms) and measured_ms > 0):
            return 0
        passes = 0
        if refine and self.predict(genome) > measured_ms * (1 + REFINE_OVER):
            ops = self._ops(self._arch(genome))
            passes = self.table.refine([k for k, _, _ in ops + (op_pairs(ops) if self.in_context else [])])
        self.rows.append((genome, float(measured_ms)))
        self._x.append((self.table.generation, self.features(genome)))
        self.rows, self._x = self.rows[-MAX_FIT:], self._x[-MAX_FIT:]
        if refit:
            self.fit()
        return passes

    def _features_of_rows(self) -> np.ndarray:
        """The rows' features, those computed before an entry of the table got lower computed again."""
        gen = self.table.generation
        pairs = zip(self._x, self.rows, strict=True)
        self._x = [(g, f) if g == gen else (gen, self.features(row[0])) for (g, f), row in pairs]
        return np.array([[*f, 1.0] for _, f in self._x])

    def fit(self) -> None:
        """Refit the regression on the rows observed; the plain sum until MIN_FIT rows, and whenever the
        regression predicts the rows worse than the sum does out of sample."""
        if len(self.rows) < MIN_FIT:
            self.coef = None
            return
        x = self._features_of_rows()
        y = np.array([m for _, m in self.rows])
        folds = np.arange(len(y)) % CV_FOLDS
        cv = np.empty_like(y)
        for k in range(CV_FOLDS):
            coef = _nnls(x[folds != k], y[folds != k])
            cv[folds == k] = x[folds == k, 0] if coef is None else x[folds == k] @ coef
        regression_err = float(np.median(np.abs(cv - y) / y))
        table_err = float(np.median(np.abs(x[:, 0] - y) / y))
        self.coef = _nnls(x, y) if regression_err < table_err else None


def _nnls(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Non-negative coefficients minimising the relative squared error of x @ coef against y."""
    from scipy.optimize import nnls

    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    w = 1.0 / y  # relative error
    coef, _ = nnls((x / scale) * w[:, None], y * w)
    return coef / scale if np.any(coef > 0) else None


PRED_METRIC = "latency_ms_pred"  # a candidate's predicted `latency_ms_ort`, made before it trains


def for_spec(spec: Any, space: Any) -> LatencyPredictor | None:
    """The predictor a search uses, or None: only `layers`/`vit` searches that measure ONNX Runtime latency
    (deployment.ort_latency, which constraints.max_latency_ms_ort requires) and a worker with onnxruntime.

    Timed at the thread count a job measures with on a machine of this one's cores (the local runner's
    share per parallel job); the service's worker may differ, and the regression on its measured
    candidates absorbs the scale."""
    deployment = getattr(spec, "deployment", None)
    if not supports(space) or not getattr(deployment, "ort_latency", False):
        return None
    try:
        import torch

        threads = max(1, torch.get_num_threads() // max(1, int(getattr(spec, "parallelism", 1))))
        return LatencyPredictor(space, threads=threads)
    except (ImportError, RuntimeError, OSError):  # no onnxruntime: the search runs without predictions
        return None
