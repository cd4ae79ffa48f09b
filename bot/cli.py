"""`newsbot`: the command line. A thin layer over the library; every user mistake is one line
on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from pydantic import ValidationError

from bot import __version__
from bot.article import Article
from bot.config import Settings
from bot.errors import ConfigError, FetchError, InputError, LLMError, NewsbotError, TooShort

EXIT_CODES: list[tuple[type[NewsbotError], int]] = [
    (ConfigError, 2), (InputError, 3), (FetchError, 4), (LLMError, 5),
]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{'.'.join(str(p) for p in first['loc']).upper()}: {first['msg']}") from exc


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://", "t.me/", "www."))


async def _read(source: str, settings: Settings) -> Article:
    from bot.fetch import Fetcher
    from bot.reader import read_file, read_url

    if _is_url(source):
        url = source if "://" in source else f"https://{source}"
        fetcher = Fetcher(settings)
        try:
            return await read_url(url, fetcher)
        finally:
            await fetcher.close()
    return read_file(source, min_chars=1)


async def cmd_summarize(args: argparse.Namespace) -> int:
    from bot.brief import BriefEngine
    from bot.llm import LLMClient
    from bot.render import render_text

    settings = _settings()
    llm = LLMClient(settings)  # configuration errors before any reading
    try:
        article = await _read(args.input, settings)
        if len(article.text) < settings.article_min_chars:
            raise TooShort(f"{len(article.text)} characters; ARTICLE_MIN_CHARS is {settings.article_min_chars}")
        env = await BriefEngine(settings, llm).run(article)
    finally:
        await llm.close()
    if args.json:
        print(env.model_dump_json(indent=2))
    else:
        print(render_text(env, args.lang))
    return 0


async def cmd_extract(args: argparse.Namespace) -> int:
    article = await _read(args.input, _settings())
    fields = {"source": article.source, "url": article.url, "title": article.title,
              "outlet": article.outlet, "author": article.author, "published": article.published,
              "language": article.language, "status": article.status, "chars": len(article.text)}
    if args.json:
        print(json.dumps({**fields, "text": article.text}, ensure_ascii=False, indent=2))
    else:
        for key, value in fields.items():
            if value is not None:
                print(f"{key}: {value}")
        print()
        print(article.text)
    return 0


async def cmd_schema(args: argparse.Namespace) -> int:
    from bot.schema import brief_json_schema

    print(json.dumps(brief_json_schema(), ensure_ascii=False, indent=2))
    return 0


async def cmd_check(args: argparse.Namespace) -> int:
    from bot.doctor import run_checks

    return await run_checks(args.env_file)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.telegram import run_bot

    # python-telegram-bot runs its own event loop, so this command is not a coroutine
    run_bot(_settings())
    return 0


async def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluate import load, run_eval

    settings = _settings()
    return await run_eval(settings, load(args.dir), as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newsbot", description="News in, a checked bilingual brief out.")
    p.add_argument("--version", action="version", version=f"newsbot {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summarize", help="brief an article (file, '-' for stdin, or URL)")
    s.add_argument("input")
    s.add_argument("--json", action="store_true", help="print the full JSON envelope")
    s.add_argument("--lang", choices=["ar", "en", "both"], default="both")
    s.set_defaults(func=cmd_summarize)

    e = sub.add_parser("extract", help="show what the bot reads from a URL or file")
    e.add_argument("input")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_extract)

    sub.add_parser("schema", help="print the JSON Schema of the brief").set_defaults(func=cmd_schema)

    c = sub.add_parser("check", help="is everything configured?")
    c.add_argument("--env-file", default=".env")
    c.set_defaults(func=cmd_check)

    sub.add_parser("run", help="start the Telegram bot").set_defaults(func=cmd_run)

    v = sub.add_parser("eval", help="score briefs against reference briefs in a folder")
    v.add_argument("dir")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_eval)
    return p


def _run(result: Coroutine[Any, Any, int] | int) -> int:
    return asyncio.run(result) if asyncio.iscoroutine(result) else int(result)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    try:
        return _run(args.func(args))
    except NewsbotError as exc:
        print(f"newsbot: {exc.en}" + (f" ({exc.detail})" if exc.detail else ""), file=sys.stderr)
        return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
