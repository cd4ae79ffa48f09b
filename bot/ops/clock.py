"""This process's wall clock, in one place.

What processes share (leases, claims, the send schedule, digest runs) is timed by the database's
clock when the store is PostgreSQL; this clock serves one process alone (SQLite) and what no other
process reads. NEWSBOT_CLOCK_SKEW_S shifts it, so that tests can run a process whose host clock is
off, as a machine without NTP would be.
"""

from __future__ import annotations

import os
import time

SKEW_ENV = "NEWSBOT_CLOCK_SKEW_S"

#: seconds added to the host's clock (0 outside tests)
skew = float(os.environ.get(SKEW_ENV) or 0.0)


def now() -> float:
    """Seconds since the epoch, by this host."""
    return time.time() + skew
