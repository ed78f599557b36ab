"""The Celery application, configured from the NASBoard settings.

Queues: `search` for short coordination steps, `train` for candidate training (and final training).
Tasks acknowledge late and are rejected back to the queue when their worker process dies, with a
prefetch of one so a busy worker never holds tasks another idle worker could run.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from backend.settings import Settings, get_settings

SEARCH_QUEUE = "search"
TRAIN_QUEUE = "train"


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    if settings.embedded_broker:
        settings.ensure_dirs()
    app = Celery("nasboard", broker=settings.broker_url, include=["worker.tasks"])
    transport: dict[str, object] = {}
    if settings.embedded_broker:
        # kombu's SQL transport polls; its 1 s default would dominate every hop of a search.
        transport["polling_interval"] = settings.broker_polling_interval
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
        task_ignore_result=True,
        result_backend=None,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


celery_app = make_celery()
