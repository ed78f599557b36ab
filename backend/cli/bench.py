"""`nasboard bench tabular`: compare strategies on a tabular benchmark (no training, no services)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backend.cli.client import DEFAULT_URL

if TYPE_CHECKING:
    from worker.nas.objectives import Goal

STRATEGY_HELP = "search strategy (see worker.nas.registry)"
TABLE_HINT = (
    "a CSV with one row per architecture: an architecture id column (--arch-column), for --space "
    "categorical the choice columns, and the objective columns; NAS-Bench-201 and HW-GPT-Bench tables: "
    "see docs/tabular-benchmark.md"
)


class UsageError(Exception):
    """Bad command-line input: printed as `error: ...` with exit code 2."""


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmark search strategies")
    kinds = bench.add_subparsers(dest="bench_kind", required=True, metavar="KIND")
    p = kinds.add_parser(
        "tabular",
        help="repeated searches answered from a table of pre-computed results",
        description="Run --repeats searches of --budget distinct evaluations each on a benchmark table "
        "and report the --report-column value of the architecture each search picks.",
    )
    p.add_argument("--table", default=None, help=f"CSV file: {TABLE_HINT}")
    p.add_argument("--arch-column", required=True, help="column naming the architecture (e.g. arch_str)")
    p.add_argument(
        "--objective",
        action="append",
        default=[],
        metavar="COLUMN:minimize|maximize",
        help="an objective with its direction (repeatable; two or more: Pareto search). The first is the "
        "search signal; the others are costs known without training. Replaces --fitness-column and "
        "--cost-column",
    )
    p.add_argument("--fitness-column", default=None, help="search signal the strategy sees (maximized)")
    p.add_argument(
        "--report-column",
        default=None,
        help="figure reported for the picked architecture (with --objective: default the first objective)",
    )
    p.add_argument("--space", default="nb201", help="nb201 or categorical (default nb201)")
    p.add_argument("--choice-columns", default="", help="A,B,...: columns of a categorical space")
    p.add_argument(
        "--cost-column", action="append", default=[], help="minimized objective known without training"
    )
    p.add_argument("--strategy", required=True, help=STRATEGY_HELP)
    p.add_argument("--strategy-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--budget", type=int, default=100, help="distinct evaluations per search")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="repeat i uses seed + i")
    p.add_argument(
        "--hv-reference",
        default=None,
        help="report,cost,...: hypervolume reference point in the columns' units (default: the worst "
        "table values; with --objective, 10%% of each column's range beyond them)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--out", default=None, metavar="FILE.json", help="also write the run's document (settings, curves)"
    )
    p.add_argument(
        "--publish",
        action="store_true",
        help="also store the run in the service (POST /api/benchmarks) for the dashboard's benchmarks page",
    )
    p.add_argument("--name", default="", help="label of the stored run (default: STRATEGY on TABLE)")
    p.add_argument(
        "--url", default=DEFAULT_URL, help=f"with --publish: NASBoard server (default {DEFAULT_URL})"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("NASBOARD_TOKEN"),
        help="with --publish: API token (default: $NASBOARD_TOKEN); see `nasboard token create`",
    )
    p.set_defaults(func=run_tabular)


def parse_strategy_options(items: list[str], strategy: str) -> dict[str, Any]:
    """`key=value` pairs; values are JSON when they parse as JSON (numbers, true, lists), else strings."""
    from pydantic import ValidationError

    from worker.nas.registry import STRATEGIES, strategy_class

    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy: unknown {strategy!r}; allowed: {', '.join(sorted(STRATEGIES))}")
    try:
        cls = strategy_class(strategy)
    except ImportError as err:
        raise UsageError(f"--strategy: {strategy!r} is not available here ({err})") from None
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--strategy-option: expected KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    try:
        cls.Options.model_validate(options)
    except ValidationError as err:
        allowed = ", ".join(cls.Options.model_fields) or "(none)"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise UsageError(f"--strategy-option: {problems}; options of {strategy!r}: {allowed}") from None
    return options


def parse_objectives(items: list[str]) -> list[tuple[str, Goal]]:
    """`COLUMN:minimize|maximize` items as (column, goal) pairs."""
    out: list[tuple[str, Goal]] = []
    for item in items:
        column, sep, goal = item.rpartition(":")
        if not sep or not column or goal not in ("minimize", "maximize"):
            raise UsageError(f"--objective: expected COLUMN:minimize or COLUMN:maximize, got {item!r}")
        if column in (c for c, _ in out):
            raise UsageError(f"--objective: column {column!r} given twice")
        out.append((column, goal))  # type: ignore[arg-type]  # checked just above
    return out


def resolve_columns(args: argparse.Namespace) -> tuple[str, str, list[str], list[Goal] | None, float]:
    """(fitness column, report column, cost columns, goals, hypervolume reference margin) from either
    `--objective` or the older `--fitness-column/--report-column/--cost-column` options."""
    from worker.nas.bench import OBJECTIVE_REFERENCE_MARGIN

    if not args.objective:
        if args.fitness_column is None or args.report_column is None:
            raise UsageError("--fitness-column and --report-column are required without --objective")
        return args.fitness_column, args.report_column, list(args.cost_column), None, 0.0
    if args.fitness_column is not None or args.cost_column:
        raise UsageError("--objective: replaces --fitness-column and --cost-column; give one or the other")
    objectives = parse_objectives(args.objective)
    (first, _), costs = objectives[0], [c for c, _ in objectives[1:]]
    goals = [g for _, g in objectives]
    return first, args.report_column or first, costs, goals, OBJECTIVE_REFERENCE_MARGIN


def parse_reference(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"--hv-reference: expected numbers like 80,230, got {text!r}") from None


def run_tabular(args: argparse.Namespace) -> int:
    from backend.cli.client import ClientError

    try:
        return _run_tabular(args)
    except UsageError as err:
        print(f"nasboard bench tabular: error: {err}", file=sys.stderr)
        return 2
    except (ClientError, OSError) as err:
        print(f"nasboard bench tabular: error: {err}", file=sys.stderr)
        return 1


def _run_tabular(args: argparse.Namespace) -> int:
    from worker.nas.bench import bench_space, run_tabular_bench
    from worker.nas.evaluation.tabular import TabularTable

    if args.table is None:
        raise UsageError(f"--table is required: {TABLE_HINT}")
    if args.budget < 1 or args.repeats < 1:
        raise UsageError("--budget and --repeats must be at least 1")
    if args.space not in ("nb201", "categorical"):
        raise UsageError(f"--space: unknown {args.space!r}; allowed: nb201, categorical")
    options = parse_strategy_options(args.strategy_option, args.strategy)
    fitness_column, report_column, cost_columns, goals, margin = resolve_columns(args)
    reference = parse_reference(args.hv_reference)
    if reference is not None and not cost_columns:
        raise UsageError("--hv-reference: needs two or more objectives (or a --cost-column)")
    choice_columns = [c for c in args.choice_columns.split(",") if c]
    try:
        table = TabularTable(
            args.table, args.arch_column, fitness_column, report_column, cost_columns, choice_columns
        )
        space = bench_space(table, args.space)
    except FileNotFoundError:
        raise UsageError(f"--table: no such file {args.table!r}; {TABLE_HINT}") from None
    except ValueError as err:
        raise UsageError(str(err)) from None

    progress = None
    bar = None
    if not args.json:
        from tqdm import tqdm

        bar = tqdm(total=args.repeats, desc=f"{args.strategy}", unit="run", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(1)

    started_at = datetime.now(UTC)
    try:
        out = run_tabular_bench(
            table, space, args.strategy, options, args.budget, args.repeats, args.seed, cost_columns,
            progress=progress, hv_reference=reference, goals=goals, hv_margin=margin,
        )  # fmt: skip
    except ValueError as err:
        raise UsageError(str(err)) from None
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(out))
    else:
        print(format_report(out))
    if args.out or args.publish:
        keep(args, out, len(table), started_at)
    return 0


def keep(args: argparse.Namespace, out: dict[str, Any], rows: int, started_at: datetime) -> None:
    """--out and --publish: the run's document to a file and/or the service (messages on stderr, so
    --json's stdout stays one object)."""
    from pydantic import ValidationError

    from backend.cli.bench_publish import build_document, publish, write_document

    try:
        document = build_document(
            out,
            table_path=args.table,
            rows=rows,
            space=args.space,
            arch_column=args.arch_column,
            name=args.name,
            started_at=started_at,
            finished_at=datetime.now(UTC),
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise UsageError(f"the run's document is not storable: {problems}") from None
    if args.out:
        write_document(document, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    if args.publish:
        created = publish(document, args.url, args.token)
        print(f"stored as benchmark run {created['id']}: {args.url}{created['url']}", file=sys.stderr)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(out: dict[str, Any]) -> str:
    multi = "hypervolume" in out
    head = f"{'seed':>6} {'queries':>7} {'fitness':>9} {'report':>9}" + (f" {'hv ratio':>8}" if multi else "")
    lines = [head + "  best arch", "-" * (len(head) + 11)]
    for r in out["runs"]:
        line = f"{r['seed']:>6} {r['queries']:>7} {_num(r['best_fitness']):>9} {_num(r['best_report']):>9}"
        if multi:
            line += f" {_num(r['hypervolume_ratio'], 4):>8}"
        lines.append(f"{line}  {r['best_arch']}")
    rep = out["report"]
    lines += [
        "",
        f"strategy {out['strategy']}  budget {out['budget']}  repeats {out['repeats']}  "
        f"seconds {out['seconds']:.2f}",
        f"{out['report_column']}: mean {_num(rep['mean'])} ± {_num(rep['std'])} (std), "
        f"median {_num(rep['median'])}",
    ]
    if multi:
        hv = out["hypervolume"]
        ref = ", ".join(f"{x:g}" for x in hv["reference"])
        lines.append(
            f"hypervolume ratio vs the table's true front (reference {ref}): "
            f"mean {_num(hv['ratio']['mean'], 4)} ± {_num(hv['ratio']['std'], 4)}"
        )
    return "\n".join(lines)
