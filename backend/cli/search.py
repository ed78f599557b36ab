"""`nasboard search SPEC --local` (a whole search in this process, stored in the service's database) and
`nasboard export ID --format ...` (hand back a trained model file)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from backend.cli.service import apply_data_dir
from backend.cli.specfile import SpecFileError, load_spec, spec_errors
from worker.nas.lifecycle import WARM_START_TOP

EXPORT_FORMATS = ("onnx", "torchscript", "state_dict", "card", "onnx_int8", "card_int8")
_SUFFIX = {
    "onnx": ".onnx",
    "torchscript": ".ts",
    "state_dict": ".pt",
    "card": ".json",
    "onnx_int8": ".int8.onnx",
    "card_int8": ".int8.json",
}
BEST_FIELDS = ("genome", "val_accuracy", "test_accuracy", "params", "flops", "latency_ms")


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="cand", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, max_candidates: int, best: float | None) -> None:
        bar.total = max_candidates
        bar.n = done
        bar.set_postfix_str(f"best {best:.4f}" if best is not None else "best -")
        bar.refresh()

    return bar, update


def _search(args: argparse.Namespace) -> int:
    try:
        spec, errors = spec_errors(load_spec(args.spec))
    except SpecFileError as exc:
        print(exc, file=sys.stderr)
        return 2
    if errors:
        print(errors, file=sys.stderr)
        return 2
    if not args.local:
        print(
            "nasboard search runs in this process only with --local; use `nasboard submit` for the service",
            file=sys.stderr,
        )
        return 2
    if spec.dataset.name == "table":  # the file and its columns, before anything is stored
        from worker.nas.evaluation.table_search import TableProblem, check_table

        try:
            check_table(spec)
        except TableProblem as exc:
            print(exc, file=sys.stderr)
            return 2
    apply_data_dir(args.data_dir)
    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from backend.settings import get_settings
    from worker.nas.spec import parse_spec, repeat_specs

    settings = get_settings()
    upgrade_to_head(settings)
    # `repeats: k` is a group of k searches under consecutive seeds, as the service stores it; here they
    # run one after another.
    members = repeat_specs(spec.model_dump(mode="json"))
    group_id = None
    if len(members) > 1:
        with session_scope(settings, write=True) as s:
            group_id = repo.create_group(s, spec.model_dump(mode="json"), spec.name).id
    runs = []
    for member in members:
        out = _run_one(parse_spec(member), settings, args, group_id)
        if out is None:
            return 130
        runs.append(out)
    if group_id is None:
        _report(runs[0], args.json)
        return 0
    from backend.api.groups import group_details

    with session_scope(settings) as s:
        group = group_details(s, [repo.get_group(s, group_id)])[0]
    summary = {"group_id": group_id, "test_accuracy": group["test_accuracy"], "searches": runs}
    if args.json:
        print(json.dumps(repo.json_safe(summary), indent=2))
        return 0
    for out in runs:
        _report(out, False)
    spread = group["test_accuracy"]
    result = "no final test accuracy"
    if spread:
        result = (
            f"test_accuracy {spread['mean']:.4f} ± {spread['std']:.4f} (sample std over {spread['n']} seeds)"
        )
    print(f"group {group_id}: {len(runs)} seeds, {result}; curves at /groups/{group_id} under `nasboard up`")
    return 0


def _run_one(
    spec: Any, settings: Any, args: argparse.Namespace, group_id: int | None
) -> dict[str, Any] | None:
    """Run one search in this process, stored like the service stores it; its result, or None if the
    user interrupted it (the search is then marked cancelled)."""
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from backend.db_sink import DatabaseSink
    from worker.engine_bridge import search_artefact_dir
    from worker.nas.runner import run_local_search

    with session_scope(settings, write=True) as s:
        warm = []
        if spec.warm_start_from is not None:  # the same genomes the service's first step seeds
            warm = repo.best_genomes(s, spec.warm_start_from, WARM_START_TOP)
        search_id = repo.create_search(s, spec.model_dump(mode="json"), spec.name, group_id).id
    sink = DatabaseSink(search_id, settings, spec.budget.max_candidates)
    bar, progress = _progress_bar(spec.budget.max_candidates) if not args.no_progress else (None, None)
    try:
        summary = run_local_search(
            spec,
            sink,
            data_dir=settings.dataset_dir,
            artefact_dir=search_artefact_dir(settings, search_id),
            progress=progress,
            warm_start=warm or None,
            device=args.device,
        )
    except KeyboardInterrupt:
        with session_scope(settings, write=True) as s:
            repo.set_search_status(s, search_id, "cancel")
        print(f"\nsearch {search_id} cancelled", file=sys.stderr)
        return None
    finally:
        if bar is not None:
            bar.close()
    best = summary.get("best") or {}
    out: dict[str, Any] = {
        "search_id": search_id,
        "seed": spec.seed,
        "candidates": summary.get("candidates"),
        "wall_seconds": summary.get("wall_seconds"),
        "best": {k: best.get(k) for k in BEST_FIELDS} if best else None,
    }
    if "front" in summary:
        out["front"] = summary["front"]
    if "table" in summary:
        out["table"] = summary["table"]
    return out


def _report(out: dict[str, Any], as_json: bool) -> None:
    from backend.db import repository as repo

    if as_json:
        print(json.dumps(repo.json_safe(out), indent=2))
        return
    best = out["best"] or {}
    table = out.get("table")
    if table is not None:  # a table search: the front it found, scored against the table's own front
        hv = table.get("hypervolume") or {}
        ratio = f", hypervolume ratio {hv['ratio']:.4f}" if hv.get("ratio") is not None else ""
        print(
            f"search {out['search_id']} (seed {out['seed']}): {out['candidates']} rows of {table['rows']} in "
            f"{out['wall_seconds']:.1f} s; best {table['arch_column']} {table['best']}; "
            f"front of {len(table['front'])}{ratio}"
        )
        return
    val, test = _fig(best.get("val_accuracy")), _fig(best.get("test_accuracy"))
    print(
        f"search {out['search_id']} (seed {out['seed']}): {out['candidates']} candidates in "
        f"{out['wall_seconds']:.1f} s; best val_accuracy {val}, test_accuracy {test}, "
        f"params {_fig(best.get('params'), '{:,.0f}')}"
    )


def _fig(value: Any, fmt: str = "{:.4f}") -> str:
    return "-" if value is None else fmt.format(value)


def _export(args: argparse.Namespace) -> int:
    apply_data_dir(args.data_dir)
    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from backend.settings import get_settings

    settings = get_settings()
    upgrade_to_head(settings)
    with session_scope(settings) as s:
        try:
            if args.candidate:
                cid = repo.get_candidate(s, args.id).id
            else:
                search = repo.get_search(s, args.id)
                if search.best_candidate_id is None:
                    print(f"search {args.id} has no finished candidate to export yet", file=sys.stderr)
                    return 1
                cid = search.best_candidate_id
        except repo.NotFound as exc:
            print(str(exc), file=sys.stderr)
            return 1
        path = repo.artefact_path(s, cid, args.format)
        available = repo.artefact_formats(s, cid)
    if path is None or not Path(path).exists():
        print(
            f"candidate {cid} has no {args.format} file; available: {', '.join(available) or 'none'} "
            "(the service exports the best model when a search completes)",
            file=sys.stderr,
        )
        return 1
    dest = Path(args.out) if args.out else Path(f"nasboard-candidate-{cid}{_SUFFIX[args.format]}")
    if dest.is_dir():
        dest = dest / Path(path).name
    shutil.copyfile(path, dest)
    # stdout: the file alone (for scripts); stderr says what it is, since the default is the current directory
    print(f"wrote the {args.format} file of candidate {cid} ({dest.stat().st_size:,} bytes)", file=sys.stderr)
    print(str(dest.resolve()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run a search from a spec file (YAML or JSON)")
    p.add_argument("spec", help="search spec file (.yaml / .yml / .json)")
    p.add_argument("--local", action="store_true", help="run here, without broker or workers")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--data-dir", help="where the database and artefacts live (default ./nasboard-data)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_search)

    p = sub.add_parser("export", help="copy a trained model file of a search's best (or a candidate)")
    p.add_argument("id", type=int, help="search id (its best candidate), or a candidate id with --candidate")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--candidate", action="store_true", help="ID is a candidate id")
    p.add_argument("--out", help="output file or directory (default ./nasboard-candidate-<id>.<ext>)")
    p.add_argument("--data-dir", help="where the database and artefacts live (default ./nasboard-data)")
    p.set_defaults(func=_export)
