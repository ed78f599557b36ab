"""`nasboard up`'s supervisor: a child that dies is restarted with backoff; one that keeps dying at start
stops the service with its exit code; SIGTERM stops everything."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def supervisor(tmp_path: Path, children: list[str]) -> subprocess.Popen[str]:
    """Run _supervise in its own process (it installs signal handlers) over `python -c CODE` children."""
    cmds = [[sys.executable, "-c", code] for code in children]
    driver = (
        "import json, os, sys; from backend.cli.service import _supervise; "
        f"sys.exit(_supervise([(c, dict(os.environ)) for c in json.loads({json.dumps(json.dumps(cmds))})]))"
    )
    return subprocess.Popen([sys.executable, "-c", driver], cwd=REPO, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.1)
    assert path.exists(), f"{path.name} never appeared"


def test_a_child_that_dies_is_restarted_and_sigterm_stops_all(tmp_path: Path) -> None:
    first, second, steady = tmp_path / "first", tmp_path / "second", tmp_path / "steady"
    flaky = (
        "import pathlib, sys, time\n"
        f"first, second = pathlib.Path({str(first)!r}), pathlib.Path({str(second)!r})\n"
        "if not first.exists():\n    first.touch(); sys.exit(3)\n"
        "second.touch(); time.sleep(600)\n"
    )
    calm = f"import pathlib, time; pathlib.Path({str(steady)!r}).touch(); time.sleep(600)"
    proc = supervisor(tmp_path, [flaky, calm])
    wait_for(second)  # died once with 3, started again after the first backoff
    assert steady.exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    err = proc.stderr.read() if proc.stderr else ""
    assert "exited with 3; restarting in 1 s" in err, err


def test_a_child_that_keeps_dying_at_start_stops_the_service_with_its_code(tmp_path: Path) -> None:
    steady = tmp_path / "steady"
    calm = f"import pathlib, time; pathlib.Path({str(steady)!r}).touch(); time.sleep(600)"
    proc = supervisor(tmp_path, ["import sys; sys.exit(5)", calm])
    assert proc.wait(timeout=60) == 5  # 4 quick deaths, 1 + 2 + 4 s apart
    err = proc.stderr.read() if proc.stderr else ""
    assert "exited with 5 4 times at start; stopping" in err, err
