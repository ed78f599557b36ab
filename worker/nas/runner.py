"""`nasboard search --local`: the search lifecycle (worker.nas.lifecycle) driven in this process.

Jobs run on a pool of `parallelism` threads (PyTorch releases the GIL while it computes), so a spec means
the same on this path as on the service's workers; sink calls are serialised by one lock.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from worker.nas.evaluation.datasets import load_dataset
from worker.nas.evaluation.evaluator import EvalOutcome, TrainingEvaluator
from worker.nas.factory import make_objective, make_space, make_strategy
from worker.nas.final_stage import run_final_stage, search_summary
from worker.nas.lifecycle import Job, Lifecycle, seconds_left, stop_rule
from worker.nas.sink import SearchSink
from worker.nas.spec import SearchSpec, is_table
from worker.nas.types import Genome, Result, TaskShape

Progress = Callable[[int, int, "float | None"], None]  # (candidates finished, max_candidates, best fitness)


class LocalSearch:
    def __init__(
        self,
        spec: SearchSpec,
        sink: SearchSink,
        *,
        data_dir: str | Path | None = None,
        artefact_dir: str | Path | None = None,
        progress: Progress | None = None,
        warm_start: list[Genome] | None = None,
        device: str | None = None,
        evaluator: Any = None,
        finalizer: Callable[..., tuple[dict[str, Any], dict[str, str]]] = run_final_stage,
    ) -> None:
        self.spec, self.sink, self.on_progress, self.device = spec, sink, progress, device
        self.finalizer = finalizer
        self.artefact_dir = Path(artefact_dir) if artefact_dir else Path(tempfile.mkdtemp(prefix="nasboard-"))
        splits = getattr(evaluator, "splits", None)  # a test's evaluator may bring its own data
        objective = make_objective(spec)
        if is_table(spec):  # nothing to train: every candidate is a row of the table
            from worker.nas.evaluation.table_search import TableEvaluator

            self.splits = None
            self.space = make_space(spec)
            evaluator = evaluator or TableEvaluator(spec, self.space, objective)
        else:
            self.splits = splits or load_dataset(spec.dataset, data_dir, seed=spec.seed)
            self.space = make_space(spec, TaskShape(self.splits.input_shape, self.splits.n_classes))
        strategy = make_strategy(spec, self.space, objective)
        strategy.free_metrics = self.space.cost  # known without training: strategies may skip for free
        self.evaluator = evaluator or TrainingEvaluator(
            spec,
            self.space,
            artefact_dir=self.artefact_dir,
            device=device,
            objective=objective,
            splits=self.splits,
        )
        self.lock = threading.Lock()
        # Jobs share this process's cores as the service's training processes share a machine's: each of
        # `parallelism` concurrent jobs gets its share of torch's threads instead of all of them.
        self.threads = max(1, _torch_threads() // spec.parallelism)
        self.lc = Lifecycle(spec, self.space, strategy, sink, objective=objective, warm=warm_start or ())
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _train(self, job: Job) -> EvalOutcome:
        if self.spec.parallelism > 1:
            _set_torch_threads(self.threads)  # per calling thread: OpenMP's thread count is thread-local
        should_stop = stop_rule(self.spec, list(self.lc.curves))

        def report(epoch: int, metrics: dict[str, float]) -> None:
            with self.lock:
                self.sink.epoch(job.cid, epoch, metrics)

        left = seconds_left(self.spec, self.elapsed())
        try:
            return self.evaluator.evaluate(
                job.genome,
                report,
                epochs=job.epochs,
                resume=job.resume,
                init_from=job.init_from,
                should_stop=should_stop,
                max_seconds=None if left is None else max(left, 1.0),
            )
        except Exception as exc:  # noqa: BLE001 - the evaluator should not raise; if it does, one candidate fails
            return EvalOutcome(Result(status="failed", error=f"{type(exc).__name__}: {exc}"))

    def _report_progress(self, finished: bool) -> None:
        best = self.lc.best()
        done = self.lc.finished_jobs()
        self.sink.progress(self.lc.state_dict(), best.cid if best else None, done)
        if self.on_progress and finished:
            self.on_progress(done, self.spec.budget.max_candidates, best.result.fitness if best else None)  # type: ignore[union-attr]

    def run(self) -> dict[str, Any]:
        running: dict[Future[EvalOutcome], Job] = {}
        with ThreadPoolExecutor(max_workers=self.spec.parallelism) as pool:
            while True:
                with self.lock:
                    for job in self.lc.next_jobs(self.elapsed()):
                        self.lc.job_started(job.cid)
                        self.sink.started(job.cid)
                        running[pool.submit(self._train, job)] = job
                    self._report_progress(finished=False)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                with self.lock:
                    for fut in done:
                        job, outcome = running.pop(fut), fut.result()
                        self.lc.job_finished(job.cid, outcome.result, outcome.checkpoint, outcome.curve)
                    self._report_progress(finished=True)
        search_seconds = self.elapsed()
        summary = search_summary(self.lc, search_seconds)
        t0 = time.monotonic()
        final, files = self.finalizer(
            self.spec, self.space, self.splits, self.lc.ranked(), self.artefact_dir, device=self.device
        )
        summary.update(final)
        summary.update(
            final_seconds=time.monotonic() - t0,
            wall_seconds=self.elapsed(),
            artefact_dir=str(self.artefact_dir),
        )
        self.sink.search_finished("done", summary, files)
        return summary


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _set_torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def run_local_search(
    spec: SearchSpec,
    sink: SearchSink,
    *,
    data_dir: str | Path | None = None,
    artefact_dir: str | Path | None = None,
    progress: Progress | None = None,
    warm_start: list[Genome] | None = None,
    device: str | None = None,
    evaluator: Any = None,
    finalizer: Callable[..., tuple[dict[str, Any], dict[str, str]]] = run_final_stage,
) -> dict[str, Any]:
    """Run the whole search here; return its summary (`search_summary` and the final stage's part)."""
    try:
        search = LocalSearch(
            spec,
            sink,
            data_dir=data_dir,
            artefact_dir=artefact_dir,
            progress=progress,
            warm_start=warm_start,
            device=device,
            evaluator=evaluator,
            finalizer=finalizer,
        )
        return search.run()
    except Exception as exc:
        sink.search_finished("failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise
