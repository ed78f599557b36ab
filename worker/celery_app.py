"""The Celery application, configured from the NASBoard settings.

Queues: `search` for short coordination steps, `train` for candidate training (and final training).
Tasks acknowledge late and are rejected back to the queue when their worker process dies, with a
prefetch of one so a busy worker never holds tasks another idle worker could run.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLTransport

from backend.settings import Settings, get_settings

SEARCH_QUEUE = "search"
TRAIN_QUEUE = "train"
EMBEDDED_SCHEME = "nasboard-sqla"


class EmbeddedTransport(SQLTransport):
    """kombu's SQL transport with a short polling interval.

    Its default (1 s) would dominate every hop of a search, and the transport hands all of its
    `broker_transport_options` to `create_engine`, so the interval cannot be passed as an option.
    """

    polling_interval = 0.1


TRANSPORT_ALIASES[EMBEDDED_SCHEME] = "worker.celery_app:EmbeddedTransport"


def broker_for(settings: Settings) -> str:
    """The broker URL Celery uses: embedded `sqla+` URLs go through EmbeddedTransport."""
    if settings.embedded_broker:
        EmbeddedTransport.polling_interval = settings.broker_polling_interval
        return EMBEDDED_SCHEME + settings.broker_url[len("sqla") :]
    return settings.broker_url


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    if settings.embedded_broker:
        settings.ensure_dirs()
    app = Celery("nasboard", broker=broker_for(settings), include=["worker.tasks"])
    transport: dict[str, object] = {}
    if settings.embedded_broker:
        # Handed to create_engine: wait for SQLite's lock instead of failing when processes collide.
        transport["connect_args"] = {"timeout": 30}
    else:
        # A task whose worker machine vanished is redelivered after this long (Redis has no consumer
        # liveness); it must exceed the longest candidate training.
        transport["visibility_timeout"] = 6 * 3600
    app.conf.update(
        task_queues=(Queue(SEARCH_QUEUE), Queue(TRAIN_QUEUE)),
        task_default_queue=SEARCH_QUEUE,
        task_routes={
            "nasboard.advance_search": {"queue": SEARCH_QUEUE},
            "nasboard.train_candidate": {"queue": TRAIN_QUEUE},
            "nasboard.finalize_search": {"queue": TRAIN_QUEUE},
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A pool process that replaces a dead one imports the engine (torch); on a busy machine that takes
        # longer than Celery's 4 s default, which would kill and respawn it forever.
        worker_proc_alive_timeout=120,
        task_ignore_result=True,
        result_backend=None,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        # Follow-up work (the step after a training, the training after a step) is published while the
        # task runs: ride out a broker restart (~40 s) instead of losing it. Longer outages are the
        # sweeper's (worker.sweeper).
        task_publish_retry_policy={
            "max_retries": 10,
            "interval_start": 0.5,
            "interval_step": 1.0,
            "interval_max": 5.0,
        },
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


celery_app = make_celery()
