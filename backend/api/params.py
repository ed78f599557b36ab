"""Bounded ids and cursors: every integer the API hands to the database fits its INTEGER column.

SQLite raises OverflowError past 2^63 and PostgreSQL errors past 2^31 for an INTEGER column, both as 500s.
An id path parameter is any integer in format, so one out of range is answered like any unknown id
(404); a cursor or offset out of range is a bad value (422).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Path, Query

from backend.db import repository
from worker.nas.spec import MAX_ID

MAX_CURSOR = MAX_ID  # `seq` columns are INTEGER too
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: str.isdigit() also accepts '²' and '١'


def _search_id(search_id: Annotated[int, Path(description="a search's id")]) -> int:
    if not 1 <= search_id <= MAX_ID:
        raise repository.NotFound(f"search {search_id} not found")
    return search_id


def _candidate_id(candidate_id: Annotated[int, Path(description="a candidate's id")]) -> int:
    if not 1 <= candidate_id <= MAX_ID:
        raise repository.NotFound(f"candidate {candidate_id} not found")
    return candidate_id


def _group_id(group_id: Annotated[int, Path(description="a group's id")]) -> int:
    if not 1 <= group_id <= MAX_ID:
        raise repository.NotFound(f"group {group_id} not found")
    return group_id


SearchId = Annotated[int, Depends(_search_id)]
GroupId = Annotated[int, Depends(_group_id)]
CandidateId = Annotated[int, Depends(_candidate_id)]
Offset = Annotated[int, Query(ge=0, le=MAX_CURSOR)]
Cursor = Annotated[
    int, Query(ge=0, le=MAX_CURSOR, description="cursor: the `next_after` of the previous call")
]


def last_event_id(header: str | None) -> int | None:
    """The SSE `Last-Event-ID` as a cursor, or None when absent or not one (then the stream starts from
    `?after=`): a browser resends whatever id it saw, so a bad one must not fail the reconnect."""
    text = (header or "").strip()
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_CURSOR else None
