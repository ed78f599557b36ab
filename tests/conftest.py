"""Shared by every test directory: puts tests/ on sys.path so they can import `services`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
