"""Run every strategy through `nasboard bench tabular` on NAS-Bench-201 (CIFAR-10) and print one table.

    .venv/bin/python benchmarks/nb201_strategies.py [--repeats 100] [--budget 100] [--strategies a,b]
        [--multi-objective] [--out DIR] [--check]

Each strategy is one CLI call, exactly as a user would run it; the script only parses its `--json` output.
Single-objective: search on cifar10valid_val_acc_12ep, report cifar10_test_acc_200ep of the pick.
With --multi-objective: also minimise flops_M_cifar10 and report the hypervolume ratio of the picked front
(reference point 80 % test accuracy, 230 MFLOPs, relative to the table's true front).
Beside the final pick, each strategy's anytime curve: the mean over repeats of the test accuracy of the
pick so far after 10, 20, 30, 50, 75 and 100 queries (read from the runs' `curves.report`; a search's
first q queries do not depend on its budget, so @50 of a budget-100 run is the budget-50 run's result).
Goals (docs/benchmarks.md, 100 repeats; issue 20): predictor-evolution's picked cell has a mean test
accuracy >= 94.17 after 50 queries (Optuna TPE's figure at 100) and >= 94.30 after 100; with
--multi-objective its fronts' mean hypervolume ratio at the budget is >= 0.985. The other strategies are
baselines without a goal. `--check` exits 1 when predictor-evolution misses a goal (it must be among the
strategies run; a goal past the budget is not judged); the table is printed either way.
The table lives outside the repository (../shared/benchmarks/nb201/nb201_cifar10.csv); without it the
script says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.nas.bench import value_at  # noqa: E402 - after the path is set

TABLE = ROOT.parent / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"
SINGLE = ["random", "genetic", "regularized-evolution", "nsga2", "reinforce", "predictor-evolution"]
MULTI = ["random", "nsga2", "predictor-evolution"]
# the repository's own environment, else the one running this script (e.g. from a git worktree)
_CLIS = (ROOT / ".venv" / "bin" / "nasboard", Path(sys.executable).parent / "nasboard")
NASBOARD = next((p for p in _CLIS if p.exists()), _CLIS[0])
GOAL_STRATEGY, GOAL_HV_RATIO = "predictor-evolution", 0.985
GOALS_AT = {50: 94.17, 100: 94.30}  # queries -> mean test accuracy of the pick so far
ANYTIME = (10, 20, 30, 50, 75, 100)


def anytime_mean(data: dict, query: int) -> float | None:
    """Mean over repeats of the report value of the pick after `query` queries (None if any lacks it)."""
    values = [value_at(run["curves"]["report"], query) for run in data["runs"]]
    return sum(values) / len(values) if values and None not in values else None


def run(strategy: str, args: argparse.Namespace) -> dict:
    cmd = [
        str(NASBOARD), "bench", "tabular", "--table", str(args.table),
        "--arch-column", "arch_str", "--fitness-column", "cifar10valid_val_acc_12ep",
        "--report-column", "cifar10_test_acc_200ep", "--space", "nb201",
        "--budget", str(args.budget), "--repeats", str(args.repeats), "--strategy", strategy, "--json",
    ]  # fmt: skip
    if args.multi_objective:  # reference 80 % / 230 MFLOPs, as in the table's README
        cmd += ["--cost-column", "flops_M_cifar10", "--hv-reference", args.hv_reference]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT).stdout
    data = json.loads(out)
    data["wall_seconds"] = time.perf_counter() - start  # includes loading the table
    if args.out:
        suffix = "_mo" if args.multi_objective else ""
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"{strategy}{suffix}.json").write_text(json.dumps(data))
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--strategies", default=None, help="comma-separated (default: all)")
    parser.add_argument("--multi-objective", action="store_true", help="add flops_M_cifar10 as a cost")
    parser.add_argument("--out", default=None, help="directory for each run's full JSON")
    parser.add_argument("--hv-reference", default="80,230", help="report,flops reference of the hypervolume")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {GOAL_STRATEGY} misses its goal")
    args = parser.parse_args()
    if not args.table.exists():
        print(f"NAS-Bench-201 table not found at {args.table}; see docs/benchmarks-nb201.md", file=sys.stderr)
        return 2
    names = args.strategies.split(",") if args.strategies else (MULTI if args.multi_objective else SINGLE)
    if args.check and GOAL_STRATEGY not in names:
        parser.error(f"--check: the goal is {GOAL_STRATEGY}'s; include it in --strategies")
    met = True
    points = [q for q in ANYTIME if q <= args.budget]
    head = f"{'strategy':<22} {'mean':>7} {'std':>6} {'median':>7}"
    head += f" {'HV ratio':>9} {'HV std':>7}" if args.multi_objective else ""
    head += "".join(f" {'@' + str(q):>7}" for q in points)
    print(head + f" {'search s':>9} {'wall s':>7}")
    for name in names:
        d = run(name, args)
        r = d["report"]
        line = f"{name:<22} {r['mean']:>7.3f} {r['std']:>6.3f} {r['median']:>7.3f}"
        if args.multi_objective:
            hv = d["hypervolume"]["ratio"]
            line += f" {hv['mean']:>9.4f} {hv['std']:>7.4f}"
        means = {q: anytime_mean(d, q) for q in points}
        line += "".join(f" {m:>7.3f}" if m is not None else f" {'-':>7}" for m in means.values())
        print(line + f" {d['seconds']:>9.1f} {d['wall_seconds']:>7.1f}", flush=True)
        if name != GOAL_STRATEGY:
            continue
        if args.multi_objective:
            checks = [("mean hypervolume ratio", d["hypervolume"]["ratio"]["mean"], GOAL_HV_RATIO)]
        else:
            checks = [
                (f"mean test accuracy @{q}", means[q], goal) for q, goal in GOALS_AT.items() if q in means
            ]
            skipped = [q for q in GOALS_AT if q not in means]
            if skipped:
                print(f"{name}: goals @{skipped} lie past --budget {args.budget}: not judged", flush=True)
        note = "" if args.repeats == 100 else " (goals are set for 100 repeats)"
        for what, value, goal in checks:
            ok = value is not None and value >= goal
            met = met and ok
            shown = f"{value:.4f}" if value is not None else "none"
            print(f"{name}: {what} {shown} — goal >= {goal}: {'met' if ok else 'NOT met'}{note}", flush=True)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
