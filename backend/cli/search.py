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
    if spec.repeats > 1:
        print(
            f"repeats: {spec.repeats} runs {spec.repeats} searches as a group, which the service does "
            "(`nasboard submit`); --local runs one search: set repeats to 1",
            file=sys.stderr,
        )
        return 2
    apply_data_dir(args.data_dir)
    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from backend.db_sink import DatabaseSink
    from backend.settings import get_settings
    from worker.engine_bridge import search_artefact_dir
    from worker.nas.runner import run_local_search

    settings = get_settings()
    upgrade_to_head(settings)
    with session_scope(settings, write=True) as s:
        warm = []
        if spec.warm_start_from is not None:  # the same genomes the service's first step seeds
            warm = repo.best_genomes(s, spec.warm_start_from, WARM_START_TOP)
        search_id = repo.create_search(s, spec.model_dump(mode="json"), spec.name).id
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
        return 130
    finally:
        if bar is not None:
            bar.close()
    best = summary.get("best") or {}
    out: dict[str, Any] = {
        "search_id": search_id,
        "candidates": summary.get("candidates"),
        "wall_seconds": summary.get("wall_seconds"),
        "best": {k: best.get(k) for k in BEST_FIELDS} if best else None,
    }
    if "front" in summary:
        out["front"] = summary["front"]
    if args.json:
        print(json.dumps(repo.json_safe(out), indent=2))
    else:
        val, test = _fig(best.get("val_accuracy")), _fig(best.get("test_accuracy"))
        print(
            f"search {search_id}: {out['candidates']} candidates in {out['wall_seconds']:.1f} s; "
            f"best val_accuracy {val}, test_accuracy {test}, params {_fig(best.get('params'), '{:,.0f}')}"
        )
    return 0


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
