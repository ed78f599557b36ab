"""`nasboard up`, `api`, `worker` and `migrate`: run the service processes.

Every command upgrades the database to the newest migration before it serves. `up` runs the whole
service on embedded defaults (SQLite database and broker under the data directory) unless
NASBOARD_DATABASE_URL / NASBOARD_BROKER_URL point elsewhere, restarts (with backoff) a process of it
that dies, and stops every process it started on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 10.0


def apply_data_dir(data_dir: str | None) -> None:
    """Make `--data-dir` the NASBOARD_DATA_DIR of this process and of every child it starts."""
    if data_dir:
        os.environ["NASBOARD_DATA_DIR"] = str(Path(data_dir).expanduser().resolve())
    from backend.settings import get_settings

    get_settings.cache_clear()


def _migrate_now() -> None:
    from backend.db.migrate import upgrade_to_head

    upgrade_to_head()


def _sweep_once() -> None:
    """Requeue what a crash left behind (expired leases, searches without a next step); see worker.sweeper.
    Best effort: a broker not up yet must not stop the service from starting, the periodic sweep retries."""
    try:
        from worker.celery_app import celery_app
        from worker.sweeper import TaskNameDispatcher, sweep

        # By task name: `up` itself never imports the engine (torch) just to publish two kinds of message.
        swept = sweep(TaskNameDispatcher(celery_app))
    except Exception as exc:
        print(f"nasboard: startup sweep skipped ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
        return
    if swept.requeued or swept.readvanced:
        print(
            f"nasboard: requeued candidates {swept.requeued} and re-advanced searches {swept.readvanced}",
            flush=True,
        )


def _migrate(args: argparse.Namespace) -> int:
    apply_data_dir(args.data_dir)
    _migrate_now()
    from backend.settings import get_settings

    print(f"database upgraded to head: {_redact(get_settings().database_url)}")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _api(args: argparse.Namespace) -> int:
    apply_data_dir(args.data_dir)
    _migrate_now()
    import uvicorn

    from backend.settings import get_settings

    host, port = args.host or get_settings().host, args.port or get_settings().port
    # The app's settings must know the bound host: NASBOARD_AUTH=auto and the Host allow-list use it.
    os.environ["NASBOARD_HOST"] = host
    get_settings.cache_clear()
    uvicorn.run(
        "backend.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=args.log_level,
        # Several processes share the port (uvicorn's supervisor); each has its own pub/sub connection and
        # stream limits. The app factory is imported by name, so each process builds its own app.
        workers=max(1, args.workers),
        # Open SSE streams never end by themselves: without a limit, stopping waits for every browser.
        timeout_graceful_shutdown=3,
    )
    return 0


def _without_torch(command: str) -> bool:
    """True, after saying what to install, where this machine has the API extra only (no torch)."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        return False
    print(
        f"nasboard {command} trains networks and needs PyTorch: pip install 'nasboard[worker]'",
        file=sys.stderr,
    )
    return True


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def _worker(args: argparse.Namespace) -> int:
    if _without_torch("worker"):
        return 2
    apply_data_dir(args.data_dir)
    _migrate_now()
    queues = [q for q in args.queues.split(",") if q]
    if not queues or any(q not in ("train", "search") for q in queues):
        print(
            f"--queues: {args.queues!r} is not valid; allowed: train, search (comma-separated)",
            file=sys.stderr,
        )
        return 2
    if args.gpus == "auto":
        gpu_ids = [str(i) for i in range(_gpu_count())]
    else:
        gpu_ids = [] if args.gpus == "none" else [g for g in args.gpus.split(",") if g]
    if len(gpu_ids) > 1 and not os.environ.get("NASBOARD_WORKER_CHILD"):
        # One process per GPU, each seeing only its own device: training never shares a GPU.
        cmds = []
        for gpu in gpu_ids:
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, "NASBOARD_WORKER_CHILD": "1"}
            argv = _self_argv(
                "worker", "--queues", args.queues, "--concurrency", "1", "--name", f"{args.name}-gpu{gpu}"
            )
            cmds.append((argv, env))
        return _supervise(cmds)
    if args.torch_threads:
        os.environ["NASBOARD_TORCH_THREADS"] = str(args.torch_threads)
    if "train" in queues:
        import torch  # noqa: F401 - imported once here, inherited by every forked pool process

    from worker.celery_app import celery_app
    from worker.tasks import sweep_in_this_worker

    _sweep_once()
    if "search" in queues:
        sweep_in_this_worker()  # the coordinator sweeps periodically (worker.sweeper)
    name = args.name or "nasboard"
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            args.queues,
            "--concurrency",
            str(args.concurrency),
            "--hostname",
            f"{name}-{os.getpid()}@%h",
            "--loglevel",
            args.log_level.upper(),
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


def _self_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "backend.cli.main", *args]


# A child that dies is started again after a pause that doubles each time (1 s, 2 s, ... 30 s) and is
# forgiven once it has stayed up for STABLE_S; one that dies within QUICK_S of its start GIVE_UP times in a
# row (a port in use, a bad setting) cannot be helped by restarting, so the service stops with its code.
BACKOFF_S = (1.0, 30.0)
STABLE_S = 60.0
QUICK_S = 10.0
GIVE_UP = 4


@dataclass
class _Child:
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float | None = None
    delay: float = BACKOFF_S[0]
    quick_deaths: int = 0

    @property
    def name(self) -> str:
        return " ".join(self.argv[3:6])  # "api --host ...", "worker --queues train"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.started, self.restart_at = time.monotonic(), None

    def died(self, now: float) -> bool:
        """Note a death and plan the restart; False when it keeps dying at once and should not be."""
        code = self.proc.returncode if self.proc else None
        up_for = now - self.started
        if up_for >= STABLE_S:
            self.delay, self.quick_deaths = BACKOFF_S[0], 0
        self.quick_deaths = self.quick_deaths + 1 if up_for < QUICK_S else 0
        if self.quick_deaths >= GIVE_UP:
            print(
                f"nasboard: {self.name} exited with {code} {GIVE_UP} times at start; stopping",
                file=sys.stderr,
            )
            return False
        print(f"nasboard: {self.name} exited with {code}; restarting in {self.delay:g} s", file=sys.stderr)
        self.restart_at = now + self.delay
        self.delay = min(BACKOFF_S[1], self.delay * 2)
        return True


def _supervise(cmds: list[tuple[list[str], dict[str, str]]]) -> int:
    """Start every command and keep them running: a child that dies is restarted with backoff (its lost
    work is requeued by the sweeper), never the whole service. SIGINT/SIGTERM stop all; returns the exit
    code (a child's, when one could not be kept up)."""
    children = [_Child(argv, env) for argv, env in cmds]
    stopping, failed = False, 0

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.start()
        while not stopping and not failed:
            now = time.monotonic()
            for child in children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.start()
                elif child.proc is not None and child.proc.poll() is not None and not child.died(now):
                    failed = child.proc.returncode or 1
            time.sleep(0.2)
    finally:
        procs = [c.proc for c in children if c.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()  # a task cut short here is redelivered (acks late) when the broker allows it
                p.wait()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 0 if stopping and not failed else failed


def _up(args: argparse.Namespace) -> int:
    if _without_torch("up"):
        return 2
    apply_data_dir(args.data_dir)
    _migrate_now()
    from backend.settings import get_settings

    settings = get_settings()
    _sweep_once()  # its workers sweep too when they start; twice does no harm
    host, port = args.host or settings.host, args.port or settings.port
    workers = max(1, args.workers)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "NASBOARD_TORCH_THREADS": str(threads)}
    cmds = [
        (_self_argv("api", "--host", host, "--port", str(port)), env),
        # Coordination steps are short; one process keeps them from queueing behind training.
        (_self_argv("worker", "--queues", "search", "--concurrency", "1", "--name", "search"), env),
        (_self_argv("worker", "--queues", "train", "--concurrency", str(workers), "--name", "train"), env),
    ]
    auth = "tokens required" if settings.model_copy(update={"host": host}).auth_enabled else "auth off"
    print(
        f"nasboard: API on http://{host}:{port} ({auth})  |  {workers} training worker(s)  |  "
        f"database {_redact(settings.database_url)}  |  broker {_redact(settings.broker_url)}",
        flush=True,
    )
    return _supervise(cmds)


def register(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", help="where the embedded database, broker and artefacts live")
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    p = sub.add_parser("up", help="run the API and workers (embedded SQLite + broker unless URLs are set)")
    common(p)
    p.add_argument("--host", default=None, help="API host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="API port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="training worker processes (default 1)")
    p.set_defaults(func=_up)

    p = sub.add_parser("api", help="run the REST API (uvicorn on backend.app:create_app)")
    common(p)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workers", type=int, default=1, help="API processes sharing the port (default 1)")
    p.set_defaults(func=_api)

    p = sub.add_parser("worker", help="run a Celery worker for the `search` and/or `train` queues")
    common(p)
    p.add_argument("--queues", default="train,search", help="comma-separated: train, search (default both)")
    p.add_argument("--concurrency", type=int, default=1, help="task processes (default 1)")
    p.add_argument("--name", default="nasboard", help="worker name prefix")
    p.add_argument(
        "--gpus", default="auto", help="'auto' (one process per visible GPU), 'none' or ids like 0,1"
    )
    p.add_argument("--torch-threads", type=int, default=None, help="torch threads per task process")
    p.set_defaults(func=_worker)

    p = sub.add_parser("migrate", help="upgrade the database to the newest schema")
    common(p)
    p.set_defaults(func=_migrate)
