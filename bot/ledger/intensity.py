"""The intensity order of PLOVER pressure types, from an appeal to an attack.

A refinement of `bot.engine.schema.EVENT_INTENSITY` (verbal < material < violent) that the ledger
uses to call a pair's move an escalation or a de-escalation:

    REQUEST (appeal, demand)                                     0
    ACCUSE, REJECT, PROTEST (verbal disapproval)                 1
    THREATEN (announced material or violent action)              2
    MOBILIZE, SANCTION (material pressure)                       3
    COERCE (force short of attack: seizure, blockade, arrest)    4
    ASSAULT (violence)                                           5

Types of one rank are different wordings of one pressure level (an accusation answered by a
rejection is not an escalation), so only a change of rank counts.
"""

from __future__ import annotations

from bot.engine.schema import EVENT_INTENSITY

RANK: dict[str, int] = {
    "REQUEST": 0, "ACCUSE": 1, "REJECT": 1, "PROTEST": 1, "THREATEN": 2, "MOBILIZE": 3, "SANCTION": 3,
    "COERCE": 4, "ASSAULT": 5,
}

# the refinement never contradicts the coarse order of the schema
assert set(RANK) == set(EVENT_INTENSITY) and all(
    EVENT_INTENSITY[a] <= EVENT_INTENSITY[b] for a in RANK for b in RANK if RANK[a] < RANK[b])


def rank(event: str | None) -> int:
    return RANK.get(event or "", 0)
