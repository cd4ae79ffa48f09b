"""Tolerant JSON: what an answer that was cut off (length, a loop) still says, item by item."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}




@dataclass
class Cut:
    """A value the answer stopped in the middle of: an object with its complete fields (and a `Cut`
    last one), a list with its complete items (and a `Cut` last one), a string with its text so far.
    Only the summary uses a cut string (`_salvage_summary`); anywhere else a cut field is no field."""

    value: Any


class _NotJSON(Exception):
    pass


class _Partial:
    """Recursive descent over a JSON text that may stop anywhere. Returns what is complete; the
    value being written when the text ends comes back wrapped in `Cut`. Anything that is not JSON
    before the end is an error: this salvages a cut answer, it does not guess at a broken one."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def ws(self, i: int) -> int:
        while i < self.n and self.text[i] in " \t\n\r":
            i += 1
        return i

    def value(self, i: int) -> tuple[Any, int, bool]:
        """(value, index after it, complete)."""
        i = self.ws(i)
        if i >= self.n:
            return None, i, False
        c = self.text[i]
        if c == "{":
            return self.obj(i + 1)
        if c == "[":
            return self.arr(i + 1)
        if c == '"':
            try:
                text, j = json.decoder.scanstring(self.text, i + 1)  # type: ignore[attr-defined]
            except json.JSONDecodeError as exc:
                if "Unterminated" in exc.msg or exc.pos >= self.n - 6:  # cut inside the string or an escape
                    return _text_so_far(self.text[i + 1:]), self.n, False
                raise _NotJSON from exc
            return text, j, True
        for word, val in _LITERALS.items():
            if self.text.startswith(word, i):
                return val, i + len(word), True
            if word.startswith(self.text[i:]):
                return None, self.n, False
        m = _NUMBER.match(self.text, i)
        if m:
            return json.loads(m.group()), m.end(), m.end() < self.n  # a number at the very end may go on
        raise _NotJSON(i)

    def obj(self, i: int) -> tuple[Any, int, bool]:
        out: dict[str, Any] = {}
        while True:
            i = self.ws(i)
            if i >= self.n:
                return out, i, False
            if self.text[i] == "}":
                return out, i + 1, True
            if self.text[i] != '"':
                raise _NotJSON(i)
            key, i, done = self.value(i)
            i = self.ws(i)
            if not done or i >= self.n:
                return out, self.n, False
            if self.text[i] != ":":
                raise _NotJSON(i)
            val, i, done = self.value(i + 1)
            if not done:
                if val is not None:
                    out[key] = Cut(val)
                return out, self.n, False
            out[key] = val
            i = self.ws(i)
            if i >= self.n:
                return out, i, False
            if self.text[i] == ",":
                i += 1
            elif self.text[i] != "}":
                raise _NotJSON(i)

    def arr(self, i: int) -> tuple[Any, int, bool]:
        out: list[Any] = []
        while True:
            i = self.ws(i)
            if i >= self.n:
                return out, i, False
            if self.text[i] == "]":
                return out, i + 1, True
            val, i, done = self.value(i)
            if not done:
                if val is not None:
                    out.append(Cut(val))
                return out, self.n, False
            out.append(val)
            i = self.ws(i)
            if i >= self.n:
                return out, i, False
            if self.text[i] == ",":
                i += 1
            elif self.text[i] != "]":
                raise _NotJSON(i)


def _text_so_far(rest: str) -> str | None:
    """The text of a JSON string cut before its closing quote (`rest` follows the opening one),
    without an escape the cut split; None when it does not read as a string."""
    for end in range(len(rest), max(len(rest) - 6, -1), -1):  # an escape is at most 6 characters
        try:
            return str(json.loads(f'"{rest[:end]}"'))
        except json.JSONDecodeError:
            continue
    return None


def load_partial(text: str) -> tuple[Any, bool] | None:
    """The JSON value at the start of `text` as far as it goes, and whether it was complete; None
    when the text is not JSON (before its end)."""
    try:
        value, _, complete = _Partial(text).value(0)
    except _NotJSON:
        return None
    return value, complete


def load(raw: str, cut_off: bool) -> tuple[Any, bool] | None:
    """(data, complete), or None. Whole JSON first; servers without structured output sometimes
    wrap the object in prose or fences; a cut-off answer is read as far as it goes."""
    text = _FENCE.sub("", raw.strip())
    try:
        return json.loads(text), True
    except json.JSONDecodeError:
        pass
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(text[start : end + 1]), True
        except json.JSONDecodeError:
            pass
    if start < 0:
        return None
    loaded = load_partial(text[start:])
    if loaded is None or (loaded[1] and not cut_off):
        return None  # complete yet not JSON above: something else is wrong with it
    return loaded


