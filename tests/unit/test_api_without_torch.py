"""An API machine installs without torch (`pip install 'nasboard[api]'`): the API process never imports it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent
REPO = UNIT.parents[1]


def test_every_read_route_the_event_stream_and_submit_validation_run_without_torch() -> None:
    code = (
        f"import sys, runpy; sys.path[:0] = [{str(REPO)!r}, {str(UNIT.parent)!r}, {str(UNIT)!r}]; "
        f"runpy.run_path({str(UNIT / 'torchless_probe.py')!r}, run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["torch_modules"] == []
    statuses = report["responses"]
    assert "/api/strategies" in statuses and "/api/searches/{search_id}/events" in statuses
    # Every read answers (a model file exists only after final training); every valid spec is stored.
    refused = {route: code for route, code in statuses.items() if code >= 400}
    assert refused == {
        "/api/candidates/{candidate_id}/model": 404,
        "/api/candidates/{candidate_id}/scale-spec": 422,  # an nb201 cell cannot be scaled: said so
        "POST space categorical": 422,  # needs a table's choices; validated all the same
        "POST invalid": 422,
    }
    assert report["plugin_errors"].keys() <= {"categorical"}  # its Options have no defaults to list
    assert not any("torch" in error for error in report["plugin_errors"].values())
