"""`nasboard bench tabular`: compare strategies on a tabular benchmark (no training, no services)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

STRATEGY_HELP = "search strategy (see worker.nas.registry)"


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
    p.add_argument("--table", required=True, help="CSV file, one row per architecture")
    p.add_argument("--arch-column", required=True, help="column naming the architecture (e.g. arch_str)")
    p.add_argument("--fitness-column", required=True, help="search signal the strategy sees")
    p.add_argument("--report-column", required=True, help="figure reported for the picked architecture")
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
    p.add_argument("--hv-reference", default=None, help="report,cost,...: hypervolume reference point")
    p.add_argument("--json", action="store_true", help="print one JSON object")
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


def parse_reference(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"--hv-reference: expected numbers like 80,230, got {text!r}") from None


def run_tabular(args: argparse.Namespace) -> int:
    try:
        return _run_tabular(args)
    except UsageError as err:
        print(f"nasboard bench tabular: error: {err}", file=sys.stderr)
        return 2


def _run_tabular(args: argparse.Namespace) -> int:
    from worker.nas.bench import bench_space, run_tabular_bench
    from worker.nas.evaluation.tabular import TabularTable

    if args.budget < 1 or args.repeats < 1:
        raise UsageError("--budget and --repeats must be at least 1")
    if args.space not in ("nb201", "categorical"):
        raise UsageError(f"--space: unknown {args.space!r}; allowed: nb201, categorical")
    options = parse_strategy_options(args.strategy_option, args.strategy)
    reference = parse_reference(args.hv_reference)
    if reference is not None and not args.cost_column:
        raise UsageError("--hv-reference: needs at least one --cost-column")
    choice_columns = [c for c in args.choice_columns.split(",") if c]
    try:
        table = TabularTable(
            args.table,
            args.arch_column,
            args.fitness_column,
            args.report_column,
            args.cost_column,
            choice_columns,
        )
        space = bench_space(table, args.space)
    except FileNotFoundError:
        raise UsageError(f"--table: no such file {args.table!r}") from None
    except ValueError as err:
        raise UsageError(str(err)) from None

    progress = None
    bar = None
    if not args.json:
        from tqdm import tqdm

        bar = tqdm(total=args.repeats, desc=f"{args.strategy}", unit="run", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.update(1)

    try:
        out = run_tabular_bench(
            table, space, args.strategy, options, args.budget, args.repeats, args.seed, args.cost_column,
            progress=progress, hv_reference=reference,
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
    return 0


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
