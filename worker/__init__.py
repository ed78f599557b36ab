"""NASBoard worker: the Celery app and tasks (thin), and the NAS engine under `worker.nas`."""
