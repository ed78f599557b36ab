"""Run as a script by test_api_without_torch.py: the API's every read and a submit, with torch unimportable.

A finder at the front of sys.meta_path refuses `torch`, so a lazy import that a route reaches fails here
even on a machine that has torch installed, and `torch` must still be absent from sys.modules at the end.
Prints one JSON object: {"responses": {route: status}, "plugin_errors": {...}, "torch_modules": [...]}.
"""

from __future__ import annotations

import importlib.abc
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any


class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} imported by the API process")


sys.meta_path.insert(0, _NoTorch())

import httpx  # noqa: E402
from api_support import NB201_SPEC, finish, live_server, make_api, seed_search  # noqa: E402
from bench_support import bench_document, write_table  # noqa: E402

from backend.cli.main import build_parser  # noqa: E402 - the CLI client's modules too
from worker.nas.registry import SPACES, STRATEGIES  # noqa: E402

MULTI_SPEC = {**NB201_SPEC, "objectives": [{"metric": "val_accuracy"}, {"metric": "params"}]}


def main() -> None:
    build_parser()
    api = make_api(Path(tempfile.mkdtemp()))
    multi_id, cands = seed_search(api.settings, MULTI_SPEC, n=3)
    for i, cand in enumerate(cands):
        finish(api.settings, cand, 0.5 + 0.1 * i, params=1e5 * (3 - i))
    group = api.client.post("/api/searches", json={**MULTI_SPEC, "repeats": 2}).json()["group_id"]
    table = write_table(Path(tempfile.mkdtemp()) / "toy.csv")  # a stored `bench tabular` run, made here
    run = api.client.post("/api/benchmarks", json=bench_document(table, costs=("flops",))).json()["id"]
    ids = {
        "search_id": str(multi_id),
        "candidate_id": str(cands[0]),
        "group_id": str(group),
        "run_id": str(run),
    }
    query = {"/api/groups/compare": {"ids": f"{group},{group}"}}  # read routes that need a parameter
    responses: dict[str, int] = {}
    for template, operations in api.client.get("/openapi.json").json()["paths"].items():
        if "get" not in operations or template.endswith("/events"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
        responses[template] = api.client.get(path, params=query.get(template)).status_code
    with live_server(api) as url, httpx.stream("GET", f"{url}/api/searches/{multi_id}/events") as r:
        responses["/api/searches/{search_id}/events"] = r.status_code
        next(line for line in r.iter_lines() if line.startswith("event:"))
    for name in STRATEGIES:
        spec = {**NB201_SPEC, "strategy": {"type": name}}
        responses[f"POST strategy {name}"] = api.client.post("/api/searches", json=spec).status_code
    for name in SPACES:
        spec = {**NB201_SPEC, "space": {"type": name}, "dataset": {"name": "digits"}}
        responses[f"POST space {name}"] = api.client.post("/api/searches", json=spec).status_code
    bad = {**NB201_SPEC, "strategy": {"type": "reinforce", "hidden_size": 0}}
    responses["POST invalid"] = api.client.post("/api/searches", json=bad).status_code
    plugins = api.client.get("/api/strategies").json() + api.client.get("/api/spaces").json()
    errors = {p["name"]: p["error"] for p in plugins if not p["available"]}
    loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    print(json.dumps({"responses": responses, "plugin_errors": errors, "torch_modules": loaded}))


if __name__ == "__main__":
    main()
