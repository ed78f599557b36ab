"""Shared by every test directory: puts tests/ on sys.path so they can import `services`, and points the
cache (latency tables, worker/nas/latency_ops.py) at a temporary folder, never the user's ~/.cache."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if not os.environ.get("NASBOARD_CACHE_DIR"):
    _cache = tempfile.mkdtemp(prefix="nasboard-test-cache-")
    os.environ["NASBOARD_CACHE_DIR"] = _cache  # services started by tests inherit it
    atexit.register(shutil.rmtree, _cache, True)
