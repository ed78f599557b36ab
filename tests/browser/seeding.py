"""Seeds for the insight charts' browser tests: a group of repeated multi-objective searches whose
candidates are finished through the repository (no training), with zero-cost proxy metrics and a final
test accuracy per member; and stored tabular-benchmark runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MULTI_SPEC: dict[str, Any] = {
    "name": "seeded-group",
    "space": {"type": "nb201"},
    "strategy": {"type": "random"},
    "budget": {"max_candidates": 10},
    "objectives": [{"metric": "val_accuracy", "goal": "maximize"}, {"metric": "params", "goal": "minimize"}],
}


def seed_group(api: Any, repeats: int = 3, per_member: int = 8, test_accuracy: bool = True) -> dict[str, Any]:
    """Submit MULTI_SPEC with `repeats` seeds and finish `per_member` candidates in each member; the
    member k's candidate i scores 0.5 + 0.05·i − 0.02·k with 10⁴·(1 + (i·7 mod 5)) params."""
    from unit.api_support import finish, nb201_genomes

    from backend.db import repository
    from backend.db.session import session_scope

    created = api.client.post("/api/searches", json={**MULTI_SPEC, "repeats": repeats}).json()
    members: dict[int, list[int]] = {}
    for k, search_id in enumerate(created["search_ids"]):
        with session_scope(api.settings, write=True) as s:
            repository.start_search(s, search_id)
            cands = repository.add_candidates(s, search_id, nb201_genomes(per_member, seed=k))
            members[search_id] = [c.id for c in cands]
        for i, cid in enumerate(members[search_id]):
            proxies = {"zc_naswot": 100.0 + 3 * i, "zc_synflow": 20.0 - i, "zc_grad_norm": 1.0 + 0.1 * i}
            accuracy, params = 0.5 + 0.05 * i - 0.02 * k, 1e4 * (1 + (i * 7) % 5)
            finish(api.settings, cid, accuracy=accuracy, params=params, **proxies)
        if test_accuracy:
            with session_scope(api.settings, write=True) as s:
                best = {"candidate_id": members[search_id][-1], "test_accuracy": 0.8 + 0.01 * k}
                repository.update_summary(s, search_id, {"best": best})
    return {"group": created["group_id"], "members": members}


def seed_benchmarks(api: Any, tmp: Path) -> dict[str, int]:
    """Three stored `bench tabular` runs on one synthetic table, made by the real bench: random and
    regularized evolution on one objective, and random on two (its own group on the page)."""
    from unit.bench_support import bench_document, write_table

    table = write_table(tmp / "toy.csv")
    docs = {
        "random": bench_document(table, "random", budget=12, repeats=5),
        "rea": bench_document(
            table,
            "regularized-evolution",
            budget=12,
            repeats=5,
            options={"population_size": 4, "sample_size": 2},
        ),
        "pareto": bench_document(table, "random", costs=("flops",), budget=12, repeats=3),
    }
    return {key: api.client.post("/api/benchmarks", json=doc).json()["id"] for key, doc in docs.items()}


# A small digits network for the compound-scaling browser test (its FLOPs in closed form).
SCALE_GENOME: dict[str, Any] = {
    "layers": [{"type": "conv", "filters": 8}, {"type": "pool"}, {"type": "conv", "filters": 16}]
}
SCALE_SPEC: dict[str, Any] = {
    "name": "digits-to-scale",
    "space": {"type": "layers", "max_depth": 4, "filters": [8, 16], "head": "flatten"},
    "strategy": {"type": "random"},
    "dataset": {"name": "digits"},
    "budget": {"max_candidates": 3},
}


def seed_scalable(api: Any) -> dict[str, Any]:
    """A layers search on digits with one done candidate (its real FLOPs and params), and the follow-up
    scaling search submitted through the API with its reference and one scaled network finished."""
    from unit.api_support import finish

    from backend.db import repository
    from backend.db.session import session_scope
    from worker.nas.spaces import make_space
    from worker.nas.types import TaskShape

    options = {k: v for k, v in SCALE_SPEC["space"].items() if k != "type"}
    cost = make_space("layers", options, TaskShape((1, 8, 8), 10)).cost(SCALE_GENOME)
    search_id = api.client.post("/api/searches", json=SCALE_SPEC).json()["id"]
    with session_scope(api.settings, write=True) as s:
        repository.start_search(s, search_id)
        (cand,) = repository.add_candidates(s, search_id, [(SCALE_GENOME, "base", {"operator": "sample"})])
        cid = cand.id
    finish(api.settings, cid, 0.9, params=cost["params"], flops=cost["flops"])
    follow = api.client.post(f"/api/candidates/{cid}/scale", json={"factor": 4}).json()["id"]
    scaled = [
        ({"width": 1.0, "depth": 1.0, "resolution": 1.0}, "ref", {"operator": "reference"}),
        ({"width": 2.0, "depth": 1.0, "resolution": 1.0}, "w2", {"operator": "sample"}),
    ]
    with session_scope(api.settings, write=True) as s:
        repository.start_search(s, follow)
        refs = [c.id for c in repository.add_candidates(s, follow, scaled)]
    finish(api.settings, refs[0], 0.9, params=cost["params"], flops=cost["flops"])
    finish(api.settings, refs[1], 0.93, params=3 * cost["params"], flops=3.5 * cost["flops"])
    return {"candidate": cid, "flops": cost["flops"], "follow_up": follow, "reference": refs[0]}


LATENCY_POINTS = [(0.30, 0.31), (0.52, 0.50), (0.80, 0.95), (1.10, 1.12), (1.60, 1.58)]  # (predicted, ms)


def seed_latency(api: Any) -> dict[str, int]:
    """Two layers searches on digits: one whose finished candidates carry latency_ms_pred and
    latency_ms_ort (LATENCY_POINTS), one that timed no latency (deployment.ort_latency false)."""
    import random

    from unit.api_support import finish

    from backend.db import repository
    from backend.db.session import session_scope
    from worker.nas.spaces import make_space
    from worker.nas.types import TaskShape

    space = make_space("layers", {"max_depth": 4, "filters": [8, 16]}, TaskShape((1, 8, 8), 10))
    rng, genomes = random.Random(0), {}
    while len(genomes) < len(LATENCY_POINTS):
        g = space.sample(rng)
        genomes[space.canonical(g)] = g
    out = {}
    for name, deployment in (("predicted", {}), ("unpredicted", {"ort_latency": False, "int8": False})):
        spec = {**SCALE_SPEC, "name": f"latency-{name}", "deployment": deployment}
        search_id = api.client.post("/api/searches", json=spec).json()["id"]
        with session_scope(api.settings, write=True) as s:
            repository.start_search(s, search_id)
            rows = [(g, key, {"operator": "sample"}) for key, g in genomes.items()]
            ids = [c.id for c in repository.add_candidates(s, search_id, rows)]
        for i, cid in enumerate(ids):
            pred, measured = LATENCY_POINTS[i]
            extra = {"latency_ms_pred": pred, "latency_ms_ort": measured} if name == "predicted" else {}
            finish(api.settings, cid, 0.5 + 0.05 * i, **extra)
        out[name] = search_id
    return out
