"""Failed candidates grouped by reason. The rule lives here only: the dashboard shows the groups as sent.

Two failures have the same reason when their errors differ only in numbers and ids (a time, a size, a
memory address, a candidate id), e.g. "time limit of 60 s reached after 12.45 s" and "... 13.1 s".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Longest reason kept: a traceback's head names its kind; the rest would only split groups further.
MAX_REASON_CHARS = 200
# Candidate ids listed per group (the newest); `count` is always the whole group.
MAX_IDS_PER_GROUP = 50
NO_REASON = "(no reason recorded)"

_IDS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # uuid
    r"|0x[0-9a-fA-F]+"  # address
    r"|\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"  # hash-like token
)
# ASCII digits only (\d also takes other scripts' digits); 1,024 and 2.5e-3 are one number each.
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*(?:[eE][-+]?[0-9]+)?")
_SPACE = re.compile(r"\s+")


def normalise_reason(error: str | None) -> str:
    """The error with ids and numbers replaced by `<id>` and `<n>`, whitespace collapsed, shortened."""
    text = _SPACE.sub(" ", (error or "").strip())
    if not text:
        return NO_REASON
    text = _NUMBER.sub("<n>", _IDS.sub("<id>", text))
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def group_failures(failed: Iterable[tuple[int, str | None]]) -> list[dict[str, Any]]:
    """`(candidate id, error)` pairs, newest first, as groups `{reason, count, candidate_ids, example}`:
    largest group first, the newest ids of each (at most MAX_IDS_PER_GROUP), and one full error."""
    groups: dict[str, dict[str, Any]] = {}
    for cid, error in failed:
        reason = normalise_reason(error)
        group = groups.setdefault(
            reason, {"reason": reason, "count": 0, "candidate_ids": [], "example": error}
        )
        group["count"] += 1
        if len(group["candidate_ids"]) < MAX_IDS_PER_GROUP:
            group["candidate_ids"].append(cid)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))
