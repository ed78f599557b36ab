"""`nasboard submit | list | status | cancel | pause | resume`: a thin HTTP client of the REST API.

Talks only HTTP (httpx), so it works against any NASBoard server, local or remote; the API token comes
from `--token` or NASBOARD_TOKEN and is sent on every request. `submit --follow`
prints live progress from the search's SSE stream and reconnects with `Last-Event-ID` if the connection
drops, so no event is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import httpx

from backend.cli.specfile import SpecFileError, format_field_errors, load_spec

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL = ("completed", "failed", "cancelled")
EXIT_INVALID = 2


class ClientError(RuntimeError):
    """An answer the user must see (unreachable server, 404, 409...)."""


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _request(method: str, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    try:
        return httpx.request(method, url, timeout=30, headers=auth_headers(token), **kwargs)
    except httpx.TransportError as exc:
        base = url.split("/api/")[0]
        raise ClientError(f"cannot reach NASBoard at {base}: {exc} (is `nasboard up` running?)") from exc


def _json_or_fail(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    hint = " (set NASBOARD_TOKEN or pass --token)" if response.status_code == 401 else ""
    raise ClientError(f"HTTP {response.status_code}: {detail}{hint}")


# --- commands ---------------------------------------------------------------------------------------------
def cmd_submit(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.spec)
    except SpecFileError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    response = _request("POST", f"{args.url}/api/searches", args.token, json=spec)
    if response.status_code == 422:
        print(format_field_errors(response.json()["detail"]), file=sys.stderr)
        return EXIT_INVALID
    created = _json_or_fail(response)
    if args.json and not args.follow:
        print(json.dumps(created))
        return 0
    ids = created.get("search_ids") or [created["id"]]
    if created.get("group_id") is not None:
        print(
            f"group {created['group_id']}: searches {', '.join(map(str, ids))} {created['status']} "
            f"(one per seed): {args.url}/api/groups/{created['group_id']}"
        )
    else:
        print(f"search {created['id']} {created['status']}: {args.url}/searches/{created['id']}")
    if not args.follow:
        return 0
    # A group's searches run side by side; following them in turn still shows every event of each.
    return max(follow(args.url, search_id, token=args.token) for search_id in ids)


def cmd_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    page = _json_or_fail(_request("GET", f"{args.url}/api/searches", args.token, params=params))
    if args.json:
        print(json.dumps(page))
        return 0
    print(f"{'id':>5}  {'status':<10} {'progress':>8}  {'best':>8}  {'space':<10} {'strategy':<22} name")
    for s in page["items"]:
        best = "-" if s["best_fitness"] is None else f"{s['best_fitness']:.4f}"
        print(
            f"{s['id']:>5}  {s['status']:<10} {s['progress'] * 100:>7.0f}%  {best:>8}  "
            f"{s['space'] or '-':<10} {s['strategy'] or '-':<22} {s['name']}"
        )
    print(f"({len(page['items'])} of {page['total']})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    d = _json_or_fail(_request("GET", f"{args.url}/api/searches/{args.id}", args.token))
    if args.json:
        print(json.dumps(d))
        return 0
    print(f"search {d['id']} {d['name']!r}: {d['status']} ({d['progress'] * 100:.0f}%)")
    print(f"  candidates: {d['n_candidates']} ({d['n_done']} done, {d['n_failed']} failed)")
    if d.get("group_id") is not None:
        print(
            f"  group: {d['group_id']} (one seed of a repeated search: {args.url}/api/groups/{d['group_id']})"
        )
    if d["best"]:
        print(f"  best: candidate {d['best']['candidate_id']} fitness {d['best']['fitness']:.4f}")
    if d["elapsed_seconds"] is not None:
        eta = "" if d["eta_seconds"] is None else f", about {d['eta_seconds']:.0f} s left"
        print(f"  elapsed: {d['elapsed_seconds']:.0f} s{eta}")
    if d["error"]:
        print(f"  error: {d['error']}")
    for line in result_lines(d.get("result")):
        print(line)
    return 0


def result_lines(r: dict[str, Any] | None) -> list[str]:
    """What a finished search handed back, as `nasboard status` and `submit --follow` print it."""
    if not r:
        return []
    if r.get("table"):
        return table_lines(r)
    test = r.get("test_accuracy")
    if test is None:
        figure = "not tested"
    else:
        std = r.get("test_accuracy_std")
        spread = (
            f" ± {std:.4f} over {r['repeats']} runs" if r.get("repeats", 0) > 1 and std is not None else ""
        )
        figure = f"test accuracy {test:.4f}{spread}"
    params = "" if r.get("params") is None else f", {r['params']:,.0f} params"
    flops = "" if r.get("flops") is None else f", {r['flops'] / 1e6:.1f} MFLOPs"
    epochs = "" if r.get("final_epochs") is None else f", {r['final_epochs']} final epochs"
    lines = [
        f"  result: {figure}: candidate {r.get('candidate_id')} {r.get('label') or ''}".rstrip()
        + f"{params}{flops}{epochs}"
    ]
    if r.get("wall_seconds") is not None:
        lines.append(
            f"  time: {r['wall_seconds']:.0f} s (search {r.get('search_seconds') or 0:.0f} s, "
            f"final {r.get('final_seconds') or 0:.0f} s; search stopped by {r.get('stop_reason')})"
        )
    if r.get("final_error"):
        lines.append(f"  final stage error: {r['final_error']}")
    if r.get("artefacts"):
        lines.append(
            f"  model: {', '.join(r['artefacts'])} from /api/candidates/{r.get('candidate_id')}/model?format="
        )
    return lines


def table_lines(r: dict[str, Any]) -> list[str]:
    """A table search's result: the best row, the front found and its hypervolume against the table's."""
    t = r["table"]
    goals = ", ".join(f"{o['column']} ({o['goal']})" for o in t["objectives"])
    shown = ", ".join(t["front"][:12]) + (" ..." if len(t["front"]) > 12 else "")
    lines = [
        f"  result: {t['evaluated']} of {t['rows']} rows looked up on {goals}; best {t['arch_column']} "
        f"{t['best']} (candidate {r.get('candidate_id')})",
        f"  front: {len(t['front'])} rows: {shown}",
    ]
    hv = t.get("hypervolume")
    if hv and hv.get("ratio") is not None:
        lines.append(
            f"  hypervolume: {hv['found']:.6g} of the table's front {hv['true_front']:.6g} "
            f"({hv['true_front_size']} rows): ratio {hv['ratio']:.4f}, reference {hv['reference']}"
        )
    if r.get("wall_seconds") is not None:
        lines.append(f"  time: {r['wall_seconds']:.1f} s (search stopped by {r.get('stop_reason')})")
    return lines


def cmd_control(args: argparse.Namespace) -> int:
    result = _json_or_fail(_request("POST", f"{args.url}/api/searches/{args.id}/{args.action}", args.token))
    print(f"search {result['id']} {result['status']}")
    return 0


# --- following a search ------------------------------------------------------------------------------------
def _sse_events(response: httpx.Response):  # type: ignore[no-untyped-def]
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = value.removeprefix(" ")


def follow(url: str, search_id: int, out: Any = None, token: str | None = None) -> int:
    """Print candidate results and progress until the search ends; 0 when it completed."""
    out = out or sys.stdout
    last_id: str | None = None
    # The stream sends a row at every change (its result, then its coordination step) and again after a
    # reconnect: print a line only when what it shows changed.
    shown: dict[Any, tuple[Any, ...]] = {}
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        headers.update(auth_headers(token))
        try:
            with httpx.stream(
                "GET",
                f"{url}/api/searches/{search_id}/events",
                headers=headers,
                timeout=httpx.Timeout(30, read=60),
            ) as response:
                if not response.is_success:
                    response.read()
                    _json_or_fail(response)
                for event in _sse_events(response):
                    last_id = event.get("id", last_id)
                    data = json.loads(event["data"])
                    if event.get("event") == "candidate":
                        key = (data["status"], data.get("fitness"), data.get("rung"), data.get("error"))
                        if shown.get(data["id"]) != key:
                            shown[data["id"]] = key
                            _print_candidate(data, out)
                    elif event.get("event") == "search":
                        line = _search_line(data)
                        if shown.get("search") != line:
                            shown["search"] = line
                            print(line, file=out)
                        if data["status"] in TERMINAL:
                            final = _request("GET", f"{url}/api/searches/{search_id}", token)
                            if final.is_success:
                                for text in result_lines(final.json().get("result")):
                                    print(text, file=out)
                            return 0 if data["status"] == "completed" else 1
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            print(f"(stream interrupted: {exc}; reconnecting)", file=sys.stderr)
            time.sleep(1.0)


def _print_candidate(c: dict[str, Any], out: Any) -> None:
    if c["status"] == "done":
        fitness = "-" if c["fitness"] is None else f"{c['fitness']:.4f}"
        rung = f" rung {c['rung']} ({c.get('epochs')} epochs)" if c.get("rung") else ""
        kept = f"  ({c['error']})" if c.get("error") else ""  # a failed promotion: it kept its lower rung
        print(f"  candidate {c['id']} done{rung}  fitness {fitness}  {c.get('label') or ''}{kept}", file=out)
    elif c["status"] in ("failed", "infeasible"):
        print(f"  candidate {c['id']} {c['status']}: {c.get('error')}", file=out)


def _search_line(s: dict[str, Any]) -> str:
    best = s.get("best") or {}
    best_text = (
        f", best {best['fitness']:.4f} (candidate {best['candidate_id']})" if best.get("fitness") else ""
    )
    return (
        f"search {s['id']} {s['status']} {s['progress'] * 100:.0f}%: "
        f"{s['n_done']} done, {s['n_failed']} failed{best_text}"
    )


# --- wiring -----------------------------------------------------------------------------------------------
def _guard(func):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (ClientError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    return run


def register(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=DEFAULT_URL, help=f"NASBoard server (default {DEFAULT_URL})")
        p.add_argument("--json", action="store_true", help="print the API's JSON answer")
        p.add_argument(
            "--token",
            default=os.environ.get("NASBOARD_TOKEN"),
            help="API token (default: $NASBOARD_TOKEN); see `nasboard token create`",
        )

    p = sub.add_parser("submit", help="submit a search spec (YAML or JSON) to a running server")
    p.add_argument("spec", help="spec file, or - for stdin")
    p.add_argument("--follow", action="store_true", help="print live progress until the search ends")
    common(p)
    p.set_defaults(func=_guard(cmd_submit))

    p = sub.add_parser("list", help="list searches")
    p.add_argument("--status", choices=("queued", "running", "paused", "completed", "failed", "cancelled"))
    p.add_argument("--limit", type=int, default=50)
    common(p)
    p.set_defaults(func=_guard(cmd_list))

    p = sub.add_parser("status", help="show one search's status, counts, best and timings")
    p.add_argument("id", type=int)
    common(p)
    p.set_defaults(func=_guard(cmd_status))

    for action in ("cancel", "pause", "resume"):
        p = sub.add_parser(action, help=f"{action} a search")
        p.add_argument("id", type=int)
        common(p)
        p.set_defaults(func=_guard(cmd_control), action=action)
