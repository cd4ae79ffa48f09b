"""What a reader may see of an answer while the model is still writing it: the headline, the
summary, then each pressure and position once it is whole. Only the model's own words, never a
quote (nothing unchecked is shown as verbatim); the chat labels the draft as not yet checked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.engine import partial_json

log = logging.getLogger(__name__)

#: characters of answer between two looks for the headline and summary (a token is ~4)
PREVIEW_STEP = 48
#: characters between two looks once the summary is shown: the rest only adds items to a draft
PREVIEW_REST_STEP = 256


@dataclass(frozen=True)
class PreviewPressure:
    """A pressure as the model wrote it: the names of its actors and targets, and its demand."""

    actors: tuple[dict[str, str], ...]
    targets: tuple[dict[str, str], ...]
    demand: dict[str, str] | None = None


@dataclass(frozen=True)
class PreviewPosition:
    """A position as the model wrote it: its actor's name and stance (never its quote: unchecked)."""

    actor: dict[str, str]
    stance: dict[str, str]


@dataclass(frozen=True)
class Preview:
    """The headline ({"ar": …, "en": …}), then the summary too (None until the model has written
    it whole), then the pressures and positions written whole so far."""

    headline: dict[str, str]
    summary: dict[str, str] | None = None
    pressures: tuple[PreviewPressure, ...] = ()
    positions: tuple[PreviewPosition, ...] = ()


Previewer = Callable[[Preview], None]


def _bilingual(value: object) -> dict[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("ar"), str) and isinstance(value.get("en"), str):
        return {"ar": value["ar"], "en": value["en"]}
    return None


def _whole(items: object) -> list[dict[str, Any]]:
    """The items of a list the model has finished writing: a list still being written comes back
    `Cut`, with its last item `Cut` too, and only the items before that are whole."""
    if isinstance(items, partial_json.Cut):
        items = items.value
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _ids(value: object) -> list[str] | None:
    return value if isinstance(value, list) and value and all(isinstance(i, str) for i in value) else None


def preview_of(loaded: dict[str, Any]) -> Preview | None:
    """What a partly written answer shows: nothing before its headline is whole; an item naming an
    actor the answer has not named is left out (its names are what a reader sees)."""
    headline = _bilingual(loaded.get("headline"))
    if headline is None:
        return None
    names = {a["id"]: name for a in _whole(loaded.get("actors"))
             if isinstance(a.get("id"), str) and (name := _bilingual(a.get("name"))) is not None}
    pressures = []
    for p in _whole(loaded.get("pressures")):
        actors, targets = _ids(p.get("actors")), _ids(p.get("targets"))
        if actors and targets and all(i in names for i in [*actors, *targets]):
            pressures.append(PreviewPressure(tuple(names[i] for i in actors), tuple(names[i] for i in targets),
                                             _bilingual(p.get("demand"))))
    positions = [PreviewPosition(names[actor], stance) for q in _whole(loaded.get("positions"))
                 if isinstance(actor := q.get("actor"), str) and actor in names
                 and (stance := _bilingual(q.get("stance"))) is not None]
    return Preview(headline, _bilingual(loaded.get("summary")), tuple(pressures), tuple(positions))


class Watch:
    """Reads the answer as it streams and shows what `preview_of` finds, each time it changes. It
    reads again only after PREVIEW_STEP more characters (PREVIEW_REST_STEP once the summary is
    shown), so a long answer costs a few small parses. A preview is cosmetic: an answer it cannot
    read stops the watching, never the brief."""

    def __init__(self, show: Previewer) -> None:
        self.show = show
        self.pieces = self.length = self.read_at = 0
        self.shown: Preview | None = None
        self.stopped = False

    def __call__(self, parts: list[str]) -> None:
        if self.stopped:
            return
        self.length += sum(len(p) for p in parts[self.pieces:])
        self.pieces = len(parts)
        step = PREVIEW_REST_STEP if self.shown is not None and self.shown.summary is not None else PREVIEW_STEP
        if self.length - self.read_at < step:
            return
        self.read_at = self.length
        try:
            text = "".join(parts)
            start = text.find("{")
            loaded = partial_json.load_partial(text[start:]) if start >= 0 else None
            if loaded is None or not isinstance(loaded[0], dict):
                return
            seen = preview_of(loaded[0])
            if seen is not None and seen != self.shown:
                self.shown = seen
                self.show(seen)
        except Exception:  # whatever the answer holds or the draft does with it, the brief goes on
            log.warning("a streamed answer could not be previewed; the brief comes when it is checked", exc_info=True)
            self.stopped = True
