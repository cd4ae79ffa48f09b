"""Prompt templates from `prompts/`: text files whose first line carries a version."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from bot.engine import normalize
from bot.engine.schema import ASKED, brief_json_schema

_DIR = Path(__file__).resolve().parents[2] / "prompts"


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str


def _read(name: str) -> str:
    path = _DIR / f"{name}.txt"
    if path.exists():
        return path.read_text(encoding="utf-8")
    # installed as a wheel: the prompts ship as package data
    return resources.files("bot").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")


@cache
def load(name: str) -> Prompt:
    """Load `prompts/<name>.txt`; its first line is `# version: <version>`."""
    first, _, body = _read(name).partition("\n")
    if not first.startswith("# version:"):
        raise ValueError(f"prompts/{name}.txt must start with '# version: ...'")
    return Prompt(name=name, version=first.split(":", 1)[1].strip(), text=body.strip())


@cache
def system_prompt() -> str:
    """The static system message: instructions and schema (identical for every article, so
    providers can cache it)."""
    schema = json.dumps(brief_json_schema(), ensure_ascii=False, separators=(",", ":"))
    # the checker's limits come from the checker, so the prompt cannot promise something else
    rules = {"{min_words_whole}": normalize.MIN_WORDS_WHOLE, "{min_words_piece}": normalize.MIN_WORDS_PIECE,
             "{max_gap}": normalize.MAX_GAP, "{max_words_name}": normalize.MAX_WORDS_NAME,
             **{f"{{asked_{key}}}": n for key, n in ASKED.items()}}
    text = load("system").text
    for key, value in rules.items():
        text = text.replace(key, str(value))
    return text.replace("{schema}", schema)


def repair_prompt(failures: str) -> str:
    return load("repair").text.replace("{failures}", failures)


#: a worked example in a prompt: one line "Brief: {...}" holding a whole brief
_EXAMPLE = re.compile(r"^Brief: (\{.*\})\s*$", re.MULTILINE)


@cache
def example_ids() -> frozenset[str]:
    """Every actor and source id of the example briefs the prompts show. The examples' parties are
    invented, so one of these ids in a brief is the example leaking into it (`newsbot eval` counts them)."""
    ids: set[str] = set()
    for name in ("system", "repair"):
        for match in _EXAMPLE.finditer(load(name).text):
            data = json.loads(match.group(1))
            ids |= {item["id"] for key in ("actors", "sources") for item in data.get(key, [])}
    return frozenset(ids)


def version() -> str:
    """The version recorded in every brief: system and repair prompt versions together."""
    return f"{load('system').version}+{load('repair').version}"
