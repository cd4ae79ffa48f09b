"""`newsbot`: the command line. A thin layer over the library; every user mistake is one line
on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot import __version__
from bot.engine.article import Article
from bot.ops.config import Settings, invalid_settings
from bot.ops.errors import ConfigError, DocumentError, FetchError, InputError, LLMError, NewsbotError
from bot.ops.logs import RedactSecrets, redact_also, secrets_of

EXIT_CODES: list[tuple[type[NewsbotError], int]] = [
    (ConfigError, 2), (DocumentError, 6), (InputError, 3), (FetchError, 4), (LLMError, 5),
]


#: what a process killed by SIGPIPE reports; `newsbot ... | head` ends like `cat ... | head`
EXIT_BROKEN_PIPE = 141
#: `summarize` printed a brief in which nothing could be verified: a script must not take it for a
#: checked one, and the brief's own warning is only text (in --json, a field)
EXIT_UNVERIFIED = 7


def _settings(env_file: str | None = None) -> Settings:
    """Settings from the environment and `env_file` (default: .env when it exists)."""
    if env_file is not None and not Path(env_file).is_file():
        raise ConfigError(f"no such env file: {env_file}")
    try:
        settings = Settings(_env_file=env_file or ".env")  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(invalid_settings(exc)) from exc
    for secret in secrets_of(settings):  # whatever a command logs, no token or key reaches the terminal
        redact_also(secret)
    return settings


def _is_url(value: str) -> bool:
    """A link, or anything shaped like one (ftp://, file://): the fetcher refuses what it does not open."""
    return value.lower().startswith(("t.me/", "www.")) or re.match(r"[a-z][a-z0-9+.-]*://", value, re.I) is not None


async def _read(source: str, settings: Settings) -> Article:
    from bot.reading.documents import DocLimits
    from bot.reading.fetch import Fetcher
    from bot.reading.reader import read_file, read_url
    from bot.reading.worker import Limits

    if _is_url(source):
        url = source if "://" in source else f"https://{source}"
        fetcher = Fetcher(settings)
        try:
            return await read_url(url, fetcher)
        finally:
            await fetcher.close()
    return read_file(source, min_chars=1, limits=Limits.of(settings), doc_limits=DocLimits.of(settings),
                     max_bytes=settings.max_document_bytes)


async def _store(settings: Settings) -> Any:
    """The bot's store (DATABASE_URL, else DATA_DIR), for its brief cache; None when there is none
    yet or it cannot be opened (a read-only place, a database down): the brief is then made without
    the cache, as it would be anyway."""
    from bot.store import open_store

    file = settings.sqlite_file
    if file is not None and not file.is_file():
        # a brief needs no store: one the bot made serves as the cache, but none is made here, where
        # it would leave a ./data folder behind wherever `newsbot summarize` was run
        logging.getLogger(__name__).info("no brief cache: no store at %s", file)
        return None
    try:
        store = open_store(settings)
        await store.open()
        return store
    except Exception as exc:  # whatever the database says, the brief can be made without it
        logging.getLogger(__name__).info("no brief cache: %s", exc)
        return None


async def cmd_summarize(args: argparse.Namespace) -> int:
    from bot.engine.brief import BriefEngine
    from bot.engine.llm import LLMClient
    from bot.engine.service import BriefService
    from bot.render.classic import render_text

    settings = _settings()
    llm = LLMClient(settings)  # configuration errors before any reading
    store = None if args.no_cache else await _store(settings)
    url = (args.input if "://" in args.input else f"https://{args.input}") if _is_url(args.input) else None
    try:
        service = BriefService(settings, store, BriefEngine(settings, llm))
        done = await service.brief(lambda: _read(args.input, settings), url=url,
                                   min_chars=settings.article_min_chars)
        env = done.envelope
    finally:
        await llm.close()
        if store is not None:
            await store.close()
    if args.json:
        print(env.model_dump_json(indent=2))
    elif args.rich:
        from bot.render.rich import render_rich

        rich = render_rich(env, args.lang)
        if rich is None:  # the bot then sends the classic messages
            print("newsbot: this brief does not fit in one rich message; the bot sends it as classic "
                  "messages (shown below)", file=sys.stderr)
            print(render_text(env, args.lang))
        else:
            print(rich.html)
    else:
        print(render_text(env, args.lang))
    g = env.checks.grounding
    if g.spans_verified == 0:
        why = f"none of its {g.spans_checked} quotes and evidence found" if g.spans_checked else \
            "it has no quote or evidence to check"
        print(f"newsbot: nothing in this brief could be verified against the article ({why})", file=sys.stderr)
        return EXIT_UNVERIFIED
    return 0


async def cmd_extract(args: argparse.Namespace) -> int:
    article = await _read(args.input, _settings())
    fields = {"source": article.source, "url": article.url, "title": article.title,
              "outlet": article.outlet, "author": article.author, "published": article.published,
              "language": article.language, "status": article.status, "kind": article.kind,
              "ocr": article.ocr, "chars": len(article.text)}
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
    from bot.engine.schema import brief_json_schema

    print(json.dumps(brief_json_schema(), ensure_ascii=False, indent=2))
    return 0


async def cmd_check(args: argparse.Namespace) -> int:
    from bot.ops.doctor import run_checks

    return await run_checks(args.env_file)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.chat.app import run_bot

    # python-telegram-bot runs its own event loop, so this command is not a coroutine
    run_bot(_settings(args.env_file), args.role)
    return 0


async def cmd_eval(args: argparse.Namespace) -> int:
    settings = _settings()
    if (Path(args.dir) / "labels.json").is_file():  # a labelled stream: actor resolution and what changed
        from bot.ledger.evaluate import run_ledger_eval

        return run_ledger_eval(args.dir, as_json=args.json)
    if (Path(args.dir) / "pairs.json").is_file():  # labelled brief pairs: how digests group stories
        from bot.digests.evaluate import run_grouping_eval

        return await run_grouping_eval(settings, args.dir, as_json=args.json)
    from bot.engine.evaluate import load, run_eval

    return await run_eval(settings, load(args.dir), as_json=args.json, candidates=not args.no_candidates)


EXIT_CODES_HELP = """exit codes:
  0   done
  1   something unexpected (a bug: please report it), or `newsbot check` found a problem
  2   configuration: a setting is missing or invalid (the message names it), or a wrong command line
  3   bad input: missing file, a folder, closed or empty stdin, no letters, not an article
  4   fetching: blocked address, site refused or timed out, too large, too complex to read
  5   the language model: unreachable, refused, cut off, unusable answer
  6   a file that cannot be read: unsupported type, larger than MAX_DOCUMENT_BYTES (stdin too), damaged or
      encrypted PDF, DOCX zip bomb, image over MAX_IMAGE_PIXELS, no text found (OCR included)
  7   summarize: the brief is printed, but nothing in it could be verified against the article (none of
      its quotes and evidence found, or none to check)
  130 interrupted (Ctrl-C)
  141 output cut short by the reader (`newsbot ... | head`)

Settings come from the environment and .env; every one is documented in .env.example."""

SUMMARIZE_HELP = """input is one of:
  a file      .txt (UTF-8, windows-1256 or ISO-8859-6; detected), .html (the main text is extracted),
              .md, .pdf (its text; a scan is read by OCR), .docx, or an image (.png, .jpg, .webp:
              read by Tesseract OCR, Arabic and English)
  -           standard input, decoded like a file
  a link      http(s)://..., www.... or t.me/<channel>/<id>, fetched safely (public addresses only)

A brief is reused from the bot's store (DATABASE_URL, else the SQLite file in DATA_DIR) and saved
there when that store exists; summarize never creates one. A brief in which nothing could be
verified against the article is printed, and the exit code is 7 (newsbot --help lists them all).

examples:
  newsbot summarize article.ar.txt
  newsbot summarize statement.pdf
  newsbot summarize screenshot.png --lang en
  newsbot summarize https://example.com/news/1 --lang en
  newsbot summarize page.html --json > brief.json
  newsbot summarize article.ar.txt --rich --lang ar > brief.html
  cat article.txt | newsbot summarize -"""

EXTRACT_HELP = """input is a file (.txt, .html, .md, .pdf, .docx, .png, .jpg, .webp), '-' for standard input,
or a link, as for summarize.
Nothing is sent to the language model; no API key is needed.

examples:
  newsbot extract https://example.com/news/1
  newsbot extract page.html --json | jq .text
  newsbot extract screenshot.png"""

CHECK_HELP = """One line per item, each ✓ or ✗ with the fix: settings and where they came from, the LLM
endpoint, the model in the configured LLM_RESPONSE_FORMAT, the Telegram token, the database.
Exit code 0 only when everything passes.

examples:
  newsbot check
  newsbot check --env-file /etc/newsbot/production.env"""

RUN_HELP = """Long polling, or a webhook when WEBHOOK_URL is set. Stop with Ctrl-C or SIGTERM; requests
in flight are resumed at the next start.

With DATABASE_URL=postgresql://… the bot can run as several processes: one receiver takes updates
and stores requests, any number of workers (on any machine) claim and work them and post digests.
A worker that dies loses its requests to the others after WORKER_LEASE_S.

examples:
  newsbot run
  newsbot run --env-file /etc/newsbot/production.env
  newsbot run --role receiver        # with DATABASE_URL=postgresql://…
  newsbot run --role worker          # as many as wanted"""

EVAL_HELP = """dir holds articles NAME.<lang>.txt, each with its hand-checked reference brief NAME.summary.json
beside it. Prints schema-valid rate, grounding rate, actor recall and precision, pressure-pair F1,
source recall, bilingual rate, quote precision, speaker precision (shown quotes whose speaker the
article confirms and the reference shares) and the share of briefs showing a quote with a confirmed
speaker, per article, per language and in total. An outage is reported as an error and left out of
the rates; exit code 5 when nothing could be scored. --no-candidates asks the model without the
candidates found in the article (its attributed statements and the states it names), to measure
what they add.

A folder with pairs.json (eval/grouping) scores how digests group articles into stories instead:
pair precision and recall on labelled brief pairs (no model call unless DIGEST_LLM_MERGE=true).
A folder with labels.json (eval/ledger) scores the pressure ledger on a labelled stream of briefs:
actor resolution (pairwise) and change detection, precision and recall, with the threshold chosen
on its tuning part and the scores reported on the rest (no model call).

examples:
  newsbot eval eval/ar
  newsbot eval eval/ar --json > scores.json
  newsbot eval eval/grouping
  newsbot eval eval/ledger"""


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="newsbot", description="News in, a checked bilingual brief out.",
                                epilog=EXIT_CODES_HELP, formatter_class=raw)
    p.add_argument("--version", action="version", version=f"newsbot {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("summarize", help="brief an article (file, '-' for stdin, or URL)",
                       description="Brief one article in Arabic and English.", epilog=SUMMARIZE_HELP,
                       formatter_class=raw)
    s.add_argument("input", help="a file, '-' for standard input, or a link")
    shown = s.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the full JSON envelope (brief, article, "
                       "provenance, checks) instead of the readable brief")
    shown.add_argument("--rich", action="store_true", help="print the Rich HTML of the one rich message the bot "
                       "sends (Bot API sendRichMessage) instead of the readable brief")
    s.add_argument("--lang", choices=["ar", "en", "both"], default="both",
                   help="language of the readable brief (default: both); --json always has both")
    s.add_argument("--no-cache", action="store_true",
                   help="ask the model even when the bot's store has a brief of the same text or link by the "
                        "same model and prompts")
    s.set_defaults(func=cmd_summarize)

    e = sub.add_parser("extract", help="show what the bot reads from a URL or file",
                       description="Show the text and metadata the bot would read from an input.",
                       epilog=EXTRACT_HELP, formatter_class=raw)
    e.add_argument("input", help="a file, '-' for standard input, or a link")
    e.add_argument("--json", action="store_true", help="print one JSON object (metadata and text)")
    e.set_defaults(func=cmd_extract)

    sub.add_parser("schema", help="print the JSON Schema of the brief",
                   description="Print the JSON Schema of the brief (the `brief` of --json output).",
                   epilog="example:\n  newsbot schema > brief.schema.json", formatter_class=raw,
                   ).set_defaults(func=cmd_schema)

    c = sub.add_parser("check", help="is everything configured?", description="Check the configuration end to end.",
                       epilog=CHECK_HELP, formatter_class=raw)
    c.add_argument("--env-file", default=".env", metavar="PATH",
                   help="settings file to read (default: .env); the environment overrides it")
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("run", help="start the Telegram bot", description="Start the Telegram bot.",
                       epilog=RUN_HELP, formatter_class=raw)
    r.add_argument("--env-file", default=None, metavar="PATH",
                   help="settings file to read (default: .env when it exists); the environment overrides it")
    r.add_argument("--role", choices=("all", "receiver", "worker"), default="all",
                   help="all: take updates and work them (default); receiver: only take updates; worker: only "
                        "work requests and post digests (receiver and worker need DATABASE_URL=postgresql://…)")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("eval", help="score briefs against reference briefs in a folder",
                       description="Score the configured model against hand-checked reference briefs.",
                       epilog=EVAL_HELP, formatter_class=raw)
    v.add_argument("dir", help="folder of articles with reference briefs")
    v.add_argument("--json", action="store_true", help="print the scores as JSON")
    v.add_argument("--no-candidates", action="store_true",
                   help="do not offer the model the article's attributed statements and the states it names "
                        "(to measure what they add)")
    v.set_defaults(func=cmd_eval)
    return p


def _run(result: Coroutine[Any, Any, int] | int) -> int:
    return asyncio.run(result) if asyncio.iscoroutine(result) else int(result)  # type: ignore[arg-type]


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit's final flush cannot fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # a command prints its result or one line on what went wrong; -v tells what happens meanwhile
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets([]))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    try:
        code = _run(args.func(args))
        sys.stdout.flush()  # here, not at exit, so that a reader gone away is caught below
        return code
    except NewsbotError as exc:
        print(f"newsbot: {exc.en}" + (f" ({exc.detail})" if exc.detail else ""), file=sys.stderr)
        return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
