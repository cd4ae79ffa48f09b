"""The pressure ledger: every brief's actors, pressures and positions kept as dated events of a chat.

`values` are the records (identities, events, changes); `identity` resolves a brief's actors to the
chat's identities across languages and outlets; `intensity` orders the PLOVER pressure types;
`changes` finds new pairs, escalations, de-escalations and position changes; `record` writes a
brief into the ledger through the store; `evaluate` scores resolution and change detection on the
labelled stream in `eval/ledger/`. Nothing here knows of Telegram.
"""
