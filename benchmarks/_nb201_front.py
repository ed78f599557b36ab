"""Shared by the NAS-Bench-201 front scripts: where the table lives and how it is loaded and scored."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TABLE = ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"
COST = "flops_M_cifar10"


def load_scored_table(path: Path, hv_reference: str = "80,230") -> tuple[Any, Any]:
    """The table (search on 12-epoch validation, report 200-epoch test, FLOPs as the cost) and the
    harness's front scorer; exits 2 with a message when the table is missing (it is not in the repo)."""
    if not path.exists():
        print(f"NAS-Bench-201 table not found at {path}", file=sys.stderr)
        raise SystemExit(2)
    from worker.nas.bench import FrontScorer
    from worker.nas.evaluation.tabular import TabularTable

    table = TabularTable(path, "arch_str", "cifar10valid_val_acc_12ep", "cifar10_test_acc_200ep", [COST])
    return table, FrontScorer(table, [COST], [float(v) for v in hv_reference.split(",")])
