"""Telegram's HTML parse mode, as strictly as Telegram applies it.

`parse` returns the message's plain text (what Telegram counts toward 4096) or raises
`ValueError("can't parse entities: ...")` like the Bot API does.
"""

from __future__ import annotations

import re

TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
        "code", "pre", "blockquote", "tg-emoji"}
ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:\s+[\w-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>|&(#x[0-9a-fA-F]+|#\d+|\w+);|[<&]")


def parse(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("<", "&"):
            raise ValueError(f"can't parse entities: unsupported start tag or entity at byte offset {m.start()}")
        if token.startswith("&"):
            name = m.group(4)
            if name.startswith("#"):
                out.append(chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:])))
            elif name in ENTITIES:
                out.append(ENTITIES[name])
            else:
                raise ValueError(f"can't parse entities: unsupported entity &{name};")
            continue
        closing, tag, attrs = m.group(1), m.group(2).lower(), m.group(3)
        if tag not in TAGS:
            raise ValueError(f"can't parse entities: unsupported start tag \"{tag}\"")
        if closing:
            if not stack or stack[-1] != tag:
                raise ValueError(f"can't parse entities: unexpected end tag \"{tag}\"")
            stack.pop()
        else:
            if tag == "a" and "href" not in attrs:
                raise ValueError("can't parse entities: a tag without href")
            if tag == "span" and "tg-spoiler" not in attrs:
                raise ValueError("can't parse entities: span without class tg-spoiler")
            stack.append(tag)
    out.append(text[pos:])
    if stack:
        raise ValueError(f"can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
