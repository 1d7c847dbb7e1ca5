"""Bots: a known crawler or tool user agent, or an empty one (PRODUCT.md).

The patterns come from the maintained ``crawler-user-agents`` list plus the
operator-editable ``data/bots-extra.txt``, which also names bots by shape (a
URL or contact in the agent, feed readers, HTTP libraries) so that tools no
list has heard of are caught too. They are evaluated by DuckDB
(RE2) over the distinct user agents of a run, in chunks small enough that
RE2 keeps its fast DFA (one alternation of all 1,500 patterns falls back to
a slow NFA: 270 µs per agent instead of 2 µs).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import crawleruseragents

CHUNK = 300


def extra_patterns(extra_file: Path | None) -> list[str]:
    """The operator's patterns: one per line, ``#`` comments and blank lines skipped."""
    if extra_file is None or not extra_file.exists():
        return []
    lines = extra_file.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@lru_cache(maxsize=4)
def bot_patterns(extra_file: Path | None) -> tuple[str, ...]:
    """RE2 alternations, each covering at most CHUNK patterns; the extra ones case-insensitive, last."""
    listed = [entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA]
    chunks = ["|".join(listed[i : i + CHUNK]) for i in range(0, len(listed), CHUNK)]
    extra = extra_patterns(extra_file)
    if extra:
        chunks.append("(?i)" + "|".join(f"(?:{p})" for p in extra))
    return tuple(chunks)


def bot_condition(column: str, first_param: int, count: int) -> str:
    """SQL that is true when ``column`` matches any pattern chunk.

    The patterns themselves are bound parameters ``$first_param`` onwards;
    only the column name and parameter numbers are placed in the SQL text.
    """
    tests = [f"regexp_matches({column}, ${first_param + i})" for i in range(count)]
    return f"(coalesce(trim({column}), '') IN ('', '-') OR " + " OR ".join(tests) + ")"
