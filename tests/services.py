"""What a test does when PostgreSQL, Redis or Chromium is missing: skip on a developer's machine, fail in
CI. `.ci/run` sets NASBOARD_REQUIRE_SERVICES=1, where a skip would report green with nothing tested."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def service_missing(message: str) -> NoReturn:
    if os.environ.get("NASBOARD_REQUIRE_SERVICES", "") not in ("", "0"):
        pytest.fail(f"{message} (NASBOARD_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(message)
