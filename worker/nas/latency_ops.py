"""Per-operator latency tables: a `layers` or `vit` genome split into operator instances with their shapes,
each distinct one timed once in ONNX Runtime on this device kind, the table cached per device kind.

An operator is what ONNX Runtime runs as one fused unit in the whole network (a conv with its BatchNorm and
activation, a transformer block, the classifier tail), so timing it alone keeps the fusions the whole
network gets. Every timed model also pays ONNX Runtime's fixed cost per `run` call; that is measured once
(`overhead`, a one-element network) and taken off each operator, and added back once per network by the
predictor (worker/nas/latency_predictor.py). What an operator alone cannot show is its seams: a conv timed
alone reorders into ONNX Runtime's blocked layout and back, which a chain of convs does once. So operators
are also timed in neighbouring pairs (`op_pairs`), and `chain_sum` counts each seam as its pair shows it.
Each entry is the lowest of OP_PASSES passes spread over time (a burst of load inflates a short timing),
and of the passes its operators get later when a measured network shows the table read high (`refine`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.nas.types import Genome, TaskShape

OVERHEAD_KEY = "overhead"
# Bump when the decomposition or the timing changes: old tables are then ignored. 2: timed with
# latency_stat (a low quantile) instead of the median. 3: the lowest of OP_PASSES passes. 4: passes spread
# over time, each on a fresh session; times stored with ONNX Runtime's fixed cost in, and passes counted.
TABLE_VERSION = 4
# Per operator: short timings (operators are many, each is timed once per device kind ever): latency_of
# of >= 30 calls over >= 0.1 s after 0.05 s of warm-up, the lowest of OP_PASSES passes. A microsecond
# operator's window is a few ms (MAX_CALLS), which one burst of load covers, and so did three passes in a
# row: a cold table on an idle 2-core EPYC (2026-12-07) had operators up to 1.6x and pairs up to 4x what a
# re-timing minutes later read, and over-predicted a tenth of the networks by 10-70 %. So a new operator
# gets FIRST_PASSES passes at once and the rest later (RETIME_AFTER_S apart at least, a few per `ensure`
# call while a search goes on, all of them at `settle`), each pass on a fresh session.
# That does not catch all of it: on such a table some `vit` blocks read 1.4x a re-timing 20 minutes later.
# So the table keeps refining over its life on evidence: a measured network that comes in well under its
# prediction gives its operators another pass each (`refine`, up to MAX_PASSES), and the lowest is kept.
OP_WARMUP_S, OP_TIMED_S, OP_REPEATS = 0.05, 0.1, 30
FIRST_PASSES, OP_PASSES, MAX_PASSES = 2, 4, 12
RETIME_AFTER_S = 5.0
RETIME_PER_CALL, RETIME_PER_NEW = 8, 2  # later passes per `ensure` call: 8, plus 2 per operator it adds

Op = tuple[str, tuple[Any, ...], tuple[int, ...]]  # (key, builder arguments, input shape without batch)


def default_cache_dir() -> Path:
    """NASBOARD_CACHE_DIR, else ~/.cache/nasboard (the service passes its settings' cache dir)."""
    env = os.environ.get("NASBOARD_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "nasboard"


def device_kind(threads: int) -> str:
    """What the tables are valid for: CPU model, ONNX Runtime version, provider and intra-op threads."""
    import onnxruntime

    from worker.nas.evaluation.cpu_features import cpu_model

    cpu = re.sub(r"[^A-Za-z0-9]+", "-", cpu_model()).strip("-")[:60] or platform.machine()
    return f"{cpu}-ort{onnxruntime.__version__}-cpu-t{threads}"


# --- decomposition (no torch) -------------------------------------------------------------------------------
def layers_ops(genome: Genome, task: TaskShape, head: str) -> list[Op]:
    """Operators of a normalised `layers` genome in order (dropouts vanish at inference)."""
    c, h, w = task.input_shape
    ops: list[Op] = []
    features: int | None = None

    def add_head() -> int:
        ops.append((f"head:{head}:{c}x{h}x{w}", ("head", head), (c, h, w)))
        return c if head == "gap" else c * h * w

    for layer in genome["layers"]:
        kind = layer["type"]
        if kind == "dense" and features is None:
            features = add_head()
        if kind == "conv":
            f, k, s = layer["filters"], layer["kernel"], layer["stride"]
            bn, sep, act = layer["batch_norm"], layer["separable"], layer["activation"]
            key = f"conv:{c}x{h}x{w}:f{f}k{k}s{s}:{'bn' if bn else 'nobn'}:{'sep' if sep else 'full'}:{act}"
            ops.append((key, ("conv", dict(layer), c), (c, h, w)))
            c, h, w = f, -(-h // s), -(-w // s)
        elif kind == "pool":
            ops.append((f"pool:{layer['kind']}:{c}x{h}x{w}", ("pool", layer["kind"]), (c, h, w)))
            h, w = -(-h // 2), -(-w // 2)
        elif kind == "dense":
            units, act = layer["units"], layer["activation"]
            ops.append((f"dense:{features}:{units}:{act}", ("dense", features, units, act), (features,)))
            features = units
    if features is None:
        features = add_head()
    ops.append((f"linear:{features}:{task.n_classes}", ("linear", features, task.n_classes), (features,)))
    return ops


def vit_ops(genome: Genome, task: TaskShape) -> list[Op]:
    """Operators of a normalised `vit` genome: embedding (stem, class token, positions), blocks, tail."""
    c, h, w = task.input_shape
    d, p, pool = genome["dim"], genome["stem"]["patch"], genome["pool"]
    t = -(-h // p) * -(-w // p) + (pool == "cls")
    stem = genome["stem"]
    stem_key = f"{stem['type']}{stem.get('channels', '')}p{p}"
    ops: list[Op] = [(f"vit-embed:{c}x{h}x{w}:{stem_key}:d{d}:{pool}", ("embed", genome), (c, h, w))]
    for block in genome["blocks"]:
        mixer = f"attn{block['heads']}" if block["mixer"] == "attention" else "tokmlp"
        key = f"vit-block:t{t}:d{d}:{mixer}:r{block['mlp_ratio']}"
        ops.append((key, ("block", block, d, t), (t, d)))
    ops.append((f"vit-tail:t{t}:d{d}:{pool}:{task.n_classes}", ("tail", pool, d, task.n_classes), (t, d)))
    return ops


def op_pairs(ops: list[Op]) -> list[Op]:
    """Each two neighbouring operators as one timed unit: what passes between them (a layout reorder or
    none, a fusion across the seam) is in its time as in the whole network's."""
    return [
        (f"{ka}>{kb}", ("pair", aa, ab), sa) for (ka, aa, sa), (kb, ab, _) in zip(ops, ops[1:], strict=False)
    ]


def genome_ops(space: str, genome: Genome, task: TaskShape, head: str = "gap") -> list[Op]:
    if space == "layers":
        return layers_ops(genome, task, head)
    if space == "vit":
        return vit_ops(genome, task)
    raise ValueError(f"space {space!r}: the latency predictor knows 'layers' and 'vit'")


# --- building and timing one operator (torch and onnxruntime, imported when a table misses) -----------------
def build_op(args: tuple[Any, ...], task: TaskShape) -> Any:
    """The torch module of one operator, built by the spaces' own builders so it matches the network."""
    import torch
    from torch import nn

    from worker.nas.spaces import layers_torch, vit_net

    kind = args[0]
    if kind == "overhead":
        return nn.Flatten()  # the smallest network: one node on one element
    if kind == "pair":
        return nn.Sequential(build_op(args[1], task), build_op(args[2], task))
    if kind == "conv":
        return nn.Sequential(*layers_torch._conv(args[1], args[2]))
    if kind == "pool":
        return (nn.MaxPool2d if args[1] == "max" else nn.AvgPool2d)(2, 2, ceil_mode=True)
    if kind == "head":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()) if args[1] == "gap" else nn.Flatten()
    if kind == "dense":
        return nn.Sequential(nn.Linear(args[1], args[2]), layers_torch.ACTIVATION_MODULES[args[3]]())
    if kind == "linear":
        return nn.Linear(args[1], args[2])
    if kind == "embed":
        net = vit_net.ViTNetwork({**args[1], "blocks": []}, task)

        class Embed(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.stem, self.cls_token, self.pos = net.stem, net.cls_token, net.pos

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = self.stem(x)
                if self.cls_token is not None:
                    x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
                return x + self.pos

        return Embed()
    if kind == "block":
        return vit_net.Block(args[1], args[2], args[3], 0.0)
    if kind == "tail":
        pool, d, k = args[1], args[2], args[3]

        class Tail(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, k)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x = self.norm(x)
                return self.head(x[:, 0] if pool == "cls" else x.mean(dim=1))

        return Tail()
    raise ValueError(f"unknown operator kind {kind!r}")


def time_module(module: Any, input_shape: tuple[int, ...], threads: int) -> Callable[[], float]:
    """A timing of `module` exported as the networks are: each call times one ONNX Runtime batch-1 window
    (ms, latency_of) on a fresh session, so no pass inherits another's allocation or thread placement."""
    import torch

    from worker.nas.evaluation import ort_latency
    from worker.nas.evaluation.export import onnx_bytes

    if not any(True for _ in module.parameters()):  # the exporter reads the device from a parameter
        module.register_parameter("_anchor", torch.nn.Parameter(torch.zeros(1), requires_grad=False))
    model = onnx_bytes(module, input_shape)  # type: ignore[arg-type]

    def one_pass() -> float:
        session = ort_latency.make_session(model, threads=threads)
        return ort_latency.session_latency_ms(
            session, input_shape, repeats=OP_REPEATS, warmup_seconds=OP_WARMUP_S, min_seconds=OP_TIMED_S
        )

    return one_pass


OVERHEAD_OP: Op = (OVERHEAD_KEY, ("overhead",), (1,))


class OpTable:
    """Operator times for one device kind, loaded from and saved to the cache dir.

    Stored per operator: the lowest pass so far (ms, ONNX Runtime's fixed cost per run included) and the
    passes timed. `time` takes the fixed cost (`overhead`, timed like an operator) off. Thread-safe for the
    runner's parallel jobs; one JSON file per device kind, merged with what another process saved and
    rewritten whole (atomic rename) after each batch of timings.
    """

    def __init__(
        self,
        task: TaskShape,
        *,
        threads: int = 1,
        cache_dir: Path | str | None = None,
        timer: Callable[[Any, tuple[int, ...], int], Callable[[], float]] = time_module,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.task, self.threads, self.timer, self.clock = task, threads, timer, clock
        self.kind = device_kind(threads)
        self.path = Path(cache_dir or default_cache_dir()) / "latency" / f"{self.kind}.json"
        self.lock = threading.Lock()
        self.raw, self.passes = self._load()
        self.timed_now = 0  # operators timed by this table (not found in the cache)
        self.retimed_now = 0  # later passes of operators already in the table
        self.refined_now = 0  # passes run on evidence (`refine`)
        self.generation = 0  # bumped whenever an entry gets lower: figures computed before are stale
        self._known: dict[str, tuple[Any, tuple[int, ...]]] = {}  # key -> (builder args, shape) seen here
        self._short: set[str] = set()  # operators seen here with fewer than OP_PASSES passes
        self._runs: dict[str, Callable[[], float]] = {}  # their timings (exported models)
        self._last: dict[str, float] = {}  # monotonic time of each operator's last pass in this process

    def _load(self) -> tuple[dict[str, float], dict[str, int]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}, {}
        if not isinstance(data, dict) or data.get("version") != TABLE_VERSION:
            return {}, {}
        raw = {str(k): float(v) for k, v in (data.get("ops") or {}).items()}
        passes = {str(k): int(v) for k, v in (data.get("passes") or {}).items()}
        return raw, {k: passes.get(k, 1) for k in raw}

    def _save(self) -> None:
        disk_raw, disk_passes = self._load()  # another worker of this device kind may have timed more
        for key, ms in disk_raw.items():
            if ms < self.raw.get(key, math.inf):
                self.raw[key] = ms
                self.generation += 1
            self.passes[key] = max(disk_passes[key], self.passes.get(key, 0))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        data = {"version": TABLE_VERSION, "device_kind": self.kind, "ops": self.raw, "passes": self.passes}
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)

    @property
    def overhead(self) -> float:
        return self.raw[OVERHEAD_KEY]

    def time(self, key: str) -> float:
        """An operator's time (ms) with ONNX Runtime's fixed cost per run taken off."""
        return max(self.raw[key] - self.raw[OVERHEAD_KEY], 0.0)

    def ensure(self, ops: list[Op]) -> None:
        """Time what the table lacks (FIRST_PASSES passes), give a few operators seen earlier a later pass,
        and save."""
        with self.lock:
            new: list[str] = []  # a key known here but missing had its timing fail: tried again
            for key, args, shape in [OVERHEAD_OP, *ops]:
                if key not in self.raw:
                    if key not in new:
                        new.append(key)
                elif key not in self._known and self.passes[key] < OP_PASSES:
                    self._short.add(key)
                self._known.setdefault(key, (args, shape))
            now = self.clock()
            due = [k for k in self._oldest_short() if now - self._last.get(k, -math.inf) >= RETIME_AFTER_S]
            due = due[: RETIME_PER_CALL + RETIME_PER_NEW * len(new)]
            if not new and not due:
                return
            self._time(new, FIRST_PASSES)
            self.timed_now += len(new) - (OVERHEAD_KEY in new)
            self._time(due, 1)
            self.retimed_now += len(due)
            self._save()

    def settle(self) -> int:
        """Time every operator seen here up to OP_PASSES passes now (a benchmark's table before it is
        judged); returns the passes run."""
        with self.lock:
            runs = 0
            while self._short:
                short = self._oldest_short()
                self._time(short, 1)
                runs += len(short)
            if runs:
                self._save()
            return runs

    def refine(self, keys: list[str]) -> int:
        """Evidence that some of `keys` read high (their network measured well under its prediction): each
        one seen here, with fewer than MAX_PASSES passes and none in the last RETIME_AFTER_S, gets one
        more pass. Returns the passes run."""
        with self.lock:
            now = self.clock()
            due = [
                k
                for k in dict.fromkeys(keys)
                if k in self._known
                and k in self.raw
                and self.passes[k] < MAX_PASSES
                and now - self._last.get(k, -math.inf) >= RETIME_AFTER_S
            ]
            if due:
                self._time(due, 1)
                self.refined_now += len(due)
                self._save()
            return len(due)

    def _oldest_short(self) -> list[str]:
        """Operators seen here that have fewer than OP_PASSES passes, least recently timed first."""
        return sorted(self._short, key=lambda k: self._last.get(k, -math.inf))

    def _time(self, keys: list[str], passes: int) -> None:
        """`passes` passes over `keys` (each pass over all of them, so one burst of load rarely meets one
        operator twice), keeping each one's lowest."""
        for _ in range(passes):
            for key in keys:
                if key not in self._runs:
                    args, shape = self._known[key]
                    self._runs[key] = self.timer(build_op(args, self.task), shape, self.threads)
                ms, before = self._runs[key](), self.raw.get(key, math.inf)
                if ms < before:
                    self.raw[key] = ms
                    self.generation += before < math.inf  # a new entry changes no earlier figure
                self.passes[key] = self.passes.get(key, 0) + 1
                self._last[key] = self.clock()
        for key in keys:
            if self.passes[key] >= OP_PASSES:
                self._runs.pop(key, None)  # a pass on evidence, rare, exports the operator again
                self._short.discard(key)
            else:
                self._short.add(key)

    def op_sum(self, ops: list[Op]) -> float:
        """Sum of the operators' times (ms), overhead excluded; times what is missing first."""
        self.ensure(ops)
        return sum(self.time(key) for key, _, _ in ops)

    def chain_sum(self, ops: list[Op]) -> float:
        """The operators' time in context (ms, overhead excluded): the neighbouring pairs' times less the
        inner operators', each counted in two pairs. An operator timed alone pays its way in and out (e.g.
        ONNX Runtime's reorders to and from its blocked conv layout); in a chain of convs only the chain's
        ends do, and a pair's time has what its seam really costs."""
        if len(ops) < 2:
            return self.op_sum(ops)
        pairs = op_pairs(ops)
        self.ensure(ops + pairs)
        inner = sum(self.time(key) for key, _, _ in ops[1:-1])
        return max(sum(self.time(key) for key, _, _ in pairs) - inner, 0.0)
