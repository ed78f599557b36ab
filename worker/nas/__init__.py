"""The NAS engine: search spaces, strategies, evaluators and objectives.

Nothing here imports the web app, the database or the queue; the service drives the engine through
`SearchSpace`, `Strategy` and evaluator calls with plain JSON genomes and metric dicts.
"""
