"""A short summary of a canonical event table: users, events by type, date range."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["format_summary", "summarise"]


def summarise(events: pd.DataFrame) -> dict[str, Any]:
    """Users, events (total and by type) and date range of a canonical event frame."""
    by_type = events["event_type"].value_counts()
    return {
        "users": int(events["user_id"].nunique()),
        "events": len(events),
        "events_by_type": {str(k): int(v) for k, v in by_type.items()},
        "first_event": events["ts"].min().isoformat() if len(events) else None,
        "last_event": events["ts"].max().isoformat() if len(events) else None,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable lines for :func:`summarise`'s output."""
    lines = ["Summary", f"  users       {summary['users']:>12,}"]
    lines.append(f"  events      {summary['events']:>12,}")
    for event_type, n in summary["events_by_type"].items():
        lines.append(f"    {event_type:<10}{n:>12,}")
    first = (summary["first_event"] or "-")[:10]
    last = (summary["last_event"] or "-")[:10]
    lines.append(f"  date range  {first} .. {last}")
    return "\n".join(lines)
