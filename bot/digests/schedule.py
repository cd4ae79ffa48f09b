"""When a chat's digest goes out: `/digest on 18:00 Asia/Riyadh` parsed into a time and a zone."""

from __future__ import annotations

import re
from datetime import time as dtime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    pass


# --- schedules ---------------------------------------------------------------------------------
class ScheduleError(ValueError):
    pass


def parse_schedule(args: list[str], default_time: str = "18:00", default_tz: str = "UTC") -> tuple[str, str]:
    """`[HH:MM] [timezone]` → ("HH:MM", "Area/City"), validated."""
    when, tz = default_time, default_tz
    for arg in args:
        if re.fullmatch(r"\d{1,2}:\d{2}", arg):
            h, m = map(int, arg.split(":"))
            if not (0 <= h < 24 and 0 <= m < 60):
                raise ScheduleError(f"invalid time {arg}")
            when = f"{h:02d}:{m:02d}"
        else:
            tz = arg
    if len(tz) > 64:  # the longest IANA name is about 30 characters
        raise ScheduleError("unknown timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Europe" is a folder: IsADirectoryError
        raise ScheduleError(f"unknown timezone {tz}") from exc
    return when, tz


def schedule_time(when: str, tz: str) -> dtime:
    h, m = map(int, when.split(":"))
    return dtime(h, m, tzinfo=ZoneInfo(tz))
