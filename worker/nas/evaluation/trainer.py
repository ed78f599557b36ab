"""Train one network on in-memory tensors: the inner loop every candidate goes through.

Speed matters (it is most of a search's time), so batches are slices of a shuffled index tensor (no
DataLoader), the loss is summed on the device and read once per epoch, image batches are channels_last,
and the step runs under bf16 autocast where the device has fast bf16 (cuda; CPUs with AMX or AVX512-BF16):
on a 2-core AMX CPU that trains a 37-MFLOP CNN 3x faster than fp32 NCHW, with AVX512-BF16 1.05-2.2x.
Failures (NaN loss, out of memory, time limit) end training with a reason instead of raising, so the
search records the candidate and goes on.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from worker.nas.spec import TrainingSpec

EpochCallback = Callable[[int, dict[str, float]], "bool | None"]  # return True to stop training


@dataclass
class TrainConfig:
    epochs: int = 2  # length of the learning-rate schedule (fidelity rungs stop earlier and resume)
    batch_size: int = 128
    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["constant", "cosine", "onecycle"] = "onecycle"
    label_smoothing: float = 0.0
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    patience: int | None = None
    max_seconds: float | None = None
    seed: int = 0

    @classmethod
    def from_spec(cls, t: TrainingSpec, seed: int = 0, **overrides: Any) -> TrainConfig:
        cfg = cls(
            epochs=t.epochs,
            batch_size=t.batch_size,
            optimizer=t.optimizer,
            lr=t.lr,
            momentum=t.momentum,
            weight_decay=t.weight_decay,
            schedule=t.schedule,
            label_smoothing=t.label_smoothing,
            precision=t.precision,
            patience=t.early_stopping_patience,
            max_seconds=t.max_seconds,
            seed=seed,
        )
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg


@dataclass
class TrainResult:
    status: Literal["done", "failed"]
    epochs_done: int
    history: list[dict[str, float]] = field(default_factory=list)
    reason: str | None = None  # why training failed
    stopped: str | None = None  # why a successful run ended before its last epoch
    seconds: float = 0.0
    samples_per_second: float = 0.0

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.history[-1]) if self.history else {}


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def cpu_has_amx() -> bool:
    """True when the CPU has AMX tiles (bf16 matrix units) and the kernel lets this process use them."""
    init = getattr(getattr(torch._C, "_cpu", None), "_init_amx", None)  # private, so guarded
    try:
        return bool(init()) if init is not None else False
    except Exception:  # noqa: BLE001 - no AMX is the safe answer
        return False


@functools.cache
def cpu_has_avx512_bf16() -> bool:
    """True when the CPU has AVX512-BF16 instructions (e.g. AMD Zen 4, Intel Cooper Lake)."""
    probe = getattr(getattr(torch._C, "_cpu", None), "_get_cpu_capability", None)  # private, so guarded
    try:
        return bool(probe().get("avx512_bf16")) if probe is not None else False
    except Exception:  # noqa: BLE001 - unknown means fp32, the safe answer
        return False


def cpu_has_fast_bf16() -> bool:
    """bf16 autocast beats fp32 on this CPU: measured 3x with AMX, 1.05-2.2x with AVX512-BF16
    (benchmarks/fashion_mnist_epoch_cost.py); without either, bf16 is emulated and slower."""
    return cpu_has_amx() or cpu_has_avx512_bf16()


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None = plain fp32)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
    )


def macro_f1(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Macro-averaged F1 over classes present in target or prediction (computed on the device)."""
    conf = torch.bincount(target * n_classes + pred, minlength=n_classes * n_classes).view(n_classes, -1)
    tp = conf.diag().float()
    support, predicted = conf.sum(1).float(), conf.sum(0).float()
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    present = (support + predicted) > 0
    return f1[present].mean()


class Trainer:
    """Stateful so that a run can stop at one epoch, be checkpointed, and resume where it stopped."""

    def __init__(
        self,
        model: torch.nn.Module,
        cfg: TrainConfig,
        *,
        n_classes: int,
        device: str | torch.device | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.cfg = cfg
        self.device = pick_device(device)
        self.cuda = self.device.type == "cuda"
        # channels_last: NHWC convolutions are faster on cuda and with oneDNN on CPU (1.4x at fp32 here).
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self.n_classes = n_classes
        self.augment = augment
        self.optimizer = self._make_optimizer()
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self._pending_scheduler_state: dict[str, Any] | None = None
        self.amp_dtype = autocast_dtype(self.device, cfg.precision)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best_acc = -math.inf
        self.since_best = 0
        self.gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)  # dropout and other in-model randomness

    # --- setup ---------------------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        c, params = self.cfg, self.model.parameters()
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=True
            )
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)

    def _make_scheduler(self, steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
        total = max(1, self.cfg.epochs * steps_per_epoch)
        # Creating a scheduler rewrites the optimizer's lr/momentum; a resumed run must keep the saved ones.
        saved_optimizer = self.optimizer.state_dict() if self._pending_scheduler_state is not None else None
        if self.cfg.schedule == "onecycle":
            sched: Any = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=self.cfg.lr, total_steps=total
            )
        elif self.cfg.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=total)
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        if self._pending_scheduler_state is not None:
            sched.load_state_dict(self._pending_scheduler_state)
            self.optimizer.load_state_dict(saved_optimizer)
            self._pending_scheduler_state = None
        return sched

    def shorten(self, epochs: int) -> None:
        """End training after `epochs` (≥ the epochs done) instead of the planned length, with the
        learning-rate schedule recomputed for that length from the current step on, so a run cut to fit a
        time budget still anneals instead of stopping at a high learning rate."""
        epochs = max(epochs, self.epoch)
        if epochs >= self.cfg.epochs:
            return
        steps = self.scheduler.last_epoch if self.scheduler is not None else 0
        per_epoch = steps // max(1, self.epoch) if self.epoch else 0
        self.cfg.epochs = epochs
        if self.scheduler is None or not per_epoch:
            return  # not started: fit() builds the schedule for the new length
        self.scheduler = self._make_scheduler(per_epoch)  # resets lr/momentum to the schedule's start ...
        for _ in range(steps):  # ... and replays the steps taken, on the new length's curve
            self.scheduler.step()

    # --- checkpoints ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else self._pending_scheduler_state,
            "epoch": self.epoch,
            "schedule_epochs": self.cfg.epochs,  # `shorten` may have cut the plan; the scheduler matches it
            "history": self.history,
            "best_acc": self.best_acc,
            "since_best": self.since_best,
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._pending_scheduler_state = state["scheduler"]
        self.scheduler = None
        self.epoch = int(state["epoch"])
        if "schedule_epochs" in state:
            self.cfg.epochs = min(self.cfg.epochs, int(state["schedule_epochs"]))
        self.history = list(state["history"])
        self.best_acc, self.since_best = float(state["best_acc"]), int(state["since_best"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])

    # --- evaluation ----------------------------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        preds = []
        for i in range(0, len(y), batch_size):
            xb = x[i : i + batch_size].to(self.device, non_blocking=True)
            yb = y[i : i + batch_size].to(self.device, non_blocking=True)
            if xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                out = self.model(xb)
            loss_sum += F.cross_entropy(out.float(), yb, reduction="sum")
            preds.append(out.argmax(1))
        pred, target = torch.cat(preds), y.to(self.device)
        return {
            "loss": float(loss_sum) / max(1, len(y)),
            "accuracy": float((pred == target).float().mean()),
            "f1": float(macro_f1(pred, target, self.n_classes)),
        }

    # --- training ------------------------------------------------------------------------------------------
    def fit(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor | None = None,
        y_val: torch.Tensor | None = None,
        *,
        until_epoch: int | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> TrainResult:
        """Train from the current epoch up to `until_epoch` (default: the schedule's end)."""
        until = min(until_epoch or self.cfg.epochs, self.cfg.epochs)
        n, bs = len(y_train), self.cfg.batch_size
        steps = math.ceil(n / bs)
        if self.scheduler is None:
            self.scheduler = self._make_scheduler(steps)
        x_dev, y_dev = x_train.to(self.device), y_train.to(self.device)
        start, samples = time.monotonic(), 0
        # Throughput counts the training passes only (not validation or callbacks): it is what the final
        # training's epoch budget is planned from.
        pass_secs, t0 = 0.0, start

        def result(status: Literal["done", "failed"], reason: str | None = None, stopped: str | None = None):
            now = time.monotonic()
            busy = pass_secs + (now - t0 if status == "failed" else 0.0)
            return TrainResult(
                status, self.epoch, self.history, reason, stopped, now - start, samples / max(busy, 1e-9)
            )

        try:
            while self.epoch < min(until, self.cfg.epochs):  # `shorten` may lower cfg.epochs meanwhile
                t0 = time.monotonic()
                self.model.train()
                losses: list[torch.Tensor] = []  # summed once per check, not one kernel per step
                checked = 0
                perm = torch.randperm(n, generator=self.gen).to(self.device)
                for step in range(steps):
                    idx = perm[step * bs : (step + 1) * bs]
                    xb, yb = x_dev[idx], y_dev[idx]
                    if self.augment is not None:
                        xb = self.augment(xb)
                    if xb.dim() == 4:
                        xb = xb.contiguous(memory_format=torch.channels_last)
                    losses.append(self._step(xb, yb))
                    samples += len(idx)
                    # On CPU reading the loss costs nothing; on cuda sync only every 50 steps.
                    if not self.cuda or step % 50 == 49 or step == steps - 1:
                        bad = self._first_bad(losses[checked:])
                        if bad is not None:
                            where = f"epoch {self.epoch + 1} step {checked + bad[0] + 1}"
                            return result("failed", f"diverged: loss became {bad[1]} at {where}")
                        checked = len(losses)
                    if self.cfg.max_seconds is not None and time.monotonic() - start > self.cfg.max_seconds:
                        return result(
                            "failed",
                            f"time limit: training exceeded max_seconds={self.cfg.max_seconds:g}"
                            f" during epoch {self.epoch + 1}",
                        )
                self.epoch += 1
                metrics = {"train_loss": float(torch.stack(losses).sum()) / steps}
                pass_secs += time.monotonic() - t0
                if x_val is not None and y_val is not None:
                    v = self.evaluate(x_val, y_val)
                    metrics.update(val_loss=v["loss"], val_accuracy=v["accuracy"], val_f1=v["f1"])
                metrics.update(seconds=time.monotonic() - t0, lr=float(self.optimizer.param_groups[0]["lr"]))
                self.history.append(metrics)
                stop = bool(on_epoch(self.epoch, metrics)) if on_epoch else False
                if stop:
                    return result("done", stopped=f"stopped by the search after epoch {self.epoch}")
                if self._no_progress(metrics):
                    return result(
                        "done",
                        stopped=f"early stopping: no val_accuracy gain in {self.cfg.patience} "
                        f"epochs (epoch {self.epoch})",
                    )
        except Exception as exc:  # noqa: BLE001 - any failure of a candidate is recorded, never fatal
            if is_oom(exc):
                if self.cuda:
                    torch.cuda.empty_cache()
                return result(
                    "failed", f"out of memory at epoch {self.epoch + 1}: {str(exc).splitlines()[0]}"
                )
            raise
        return result("done")

    def _step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss = F.cross_entropy(self.model(xb), yb, label_smoothing=self.cfg.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.scheduler is not None and self.scheduler.last_epoch < self.scheduler_total():
            self.scheduler.step()
        return loss.detach()

    @staticmethod
    def _first_bad(window: list[torch.Tensor]) -> tuple[int, float] | None:
        """(index, value) of the first non-finite loss in `window`, or None (one sync for the window)."""
        if len(window) == 1:
            v = float(window[0])
            return None if math.isfinite(v) else (0, v)
        stacked = torch.stack(window)
        finite = torch.isfinite(stacked)
        if bool(finite.all()):
            return None
        i = int((~finite).nonzero()[0, 0])
        return i, float(stacked[i])

    def scheduler_total(self) -> int:
        return getattr(self.scheduler, "total_steps", None) or 1 << 62

    def _no_progress(self, metrics: dict[str, float]) -> bool:
        acc = metrics.get("val_accuracy")
        if self.cfg.patience is None or acc is None:
            return False
        if acc > self.best_acc:
            self.best_acc, self.since_best = acc, 0
            return False
        self.since_best += 1
        return self.since_best >= self.cfg.patience
