"""`nasboard up`, `api`, `worker` and `migrate`: run the service processes.

Every command upgrades the database to the newest migration before it serves. `up` runs the whole
service on embedded defaults (SQLite database and broker under the data directory) unless
NASBOARD_DATABASE_URL / NASBOARD_BROKER_URL point elsewhere, and stops every process it started on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
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
        # Open SSE streams never end by themselves: without a limit, stopping waits for every browser.
        timeout_graceful_shutdown=3,
    )
    return 0


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def _worker(args: argparse.Namespace) -> int:
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


def _supervise(cmds: list[tuple[list[str], dict[str, str]]]) -> int:
    """Start every command, stop all of them when one dies or on SIGINT/SIGTERM; return the exit code."""
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for argv, env in cmds:
            procs.append(subprocess.Popen(argv, env=env))
        while not stopping:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.2)
    finally:
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
    failed = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
    return 0 if stopping or not failed else failed[0]


def _up(args: argparse.Namespace) -> int:
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
