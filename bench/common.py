"""Shared pieces of the benchmarks: the loopback servers from the tests, and timing helpers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import functools
import itertools
import multiprocessing
import multiprocessing.process
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ops.config import Settings  # noqa: E402
from tests.conftest import EXAMPLE_ARTICLE, TESTDATA, example_reply  # noqa: E402
from tests.fakes.botapi_server import Call, FakeBotAPI  # noqa: E402
from tests.fakes.openai_server import FakeLLM  # noqa: E402
from tests.fakes.updates import message  # noqa: E402

ARTICLE = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
SPEC = TESTDATA / "bot-api" / "api.json"


#: Where the stand-ins run: "thread", threads of the bench's own process (the default here: the
#: benches that run the bot as a process of its own need no more, and read the stand-ins directly),
#: or "process", each in a process of its own, as Telegram and the LLM provider are other machines
#: for a real bot. A bot in the bench's own process shares the interpreter lock with threaded
#: stand-ins: their work (the LLM stand-in writes each answer as ~200 events, the Bot API stand-in
#: checks every call against the spec) then competes with the bot and counts in its latency and CPU.
#: The two share no process either: answers streaming at once would hold up the Bot API stand-in's
#: replies to the briefs already made. bench_bot.py sets "process" unless told `--stand-ins thread`.
STAND_INS = "thread"


def _quick(fake: FakeBotAPI | FakeLLM) -> None:
    """Nagle's algorithm off on a stand-in's sockets.

    Their handlers write a response in several small pieces (headers, body; a stream chunk by
    chunk); with Nagle on, each later piece waits for the client's delayed ACK, about 40 ms on
    Linux loopback, so every Bot API call would cost ~45 ms here and every streamed answer more:
    an artifact of the stand-ins that would swamp what the bench measures.
    """
    fake.server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]


def _make_api() -> FakeBotAPI:
    api = FakeBotAPI(SPEC)
    _quick(api)
    return api.start()


def _make_llm(llm_delay: float) -> FakeLLM:
    llm = FakeLLM(default=example_reply)
    _quick(llm)
    llm.start()
    llm.delay = llm_delay
    return llm


def servers(llm_delay: float) -> tuple[FakeBotAPI, FakeLLM]:
    """The stand-ins, each in a process of its own or both in this one (`STAND_INS`); either way the
    bench talks to them through the same attributes (push, calls, visible_text, errors; delay, calls,
    max_in_flight), and the bot reaches them over loopback HTTP."""
    if STAND_INS == "thread":
        return _make_api(), _make_llm(llm_delay)
    api, (token, api_url) = _spawn("api", llm_delay)
    try:
        llm, (llm_url,) = _spawn("llm", llm_delay)
    except BaseException:
        api.stop()
        raise
    return RemoteBotAPI(api, token, api_url), RemoteLLM(llm, llm_url)  # type: ignore[return-value]


def _spawn(which: str, llm_delay: float) -> tuple[_Remote, tuple[str, ...]]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    proc = context.Process(target=_serve_stand_in, args=(child, which, llm_delay), daemon=True)
    proc.start()
    child.close()
    if not parent.poll(60):  # a child that failed to start says nothing: do not wait for it forever
        proc.kill()
        raise RuntimeError(f"the {which} stand-in's process did not start")
    address = parent.recv()  # EOFError when it died starting
    return _Remote(parent, proc, _LAST[which]), address


def _serve_stand_in(conn: Connection, which: str, llm_delay: float) -> None:
    """A stand-in's process: serve it, and answer the bench's questions until told to stop."""
    if which == "api":
        api = _make_api()
        conn.send((api.token, api.base_url))
    else:
        llm = _make_llm(llm_delay)
        conn.send((llm.base_url,))
    cancelled: set[int] = set()  # waits the bench gave up on, maybe before asking for them
    while True:
        what, args = conn.recv()
        if what == "push_all":
            conn.send(api.push_all(*args))
        elif what == "calls":
            conn.send([(c.method, c.params, c.at, c.result) for c in api.calls[args[0]:]])
        elif what == "wait_replies":
            wait, *watch = args
            try:
                stopped = functools.partial(_cancelled, conn, wait=wait, cancelled=cancelled)
                conn.send(("ok", watch_replies(api, *watch, stopped=stopped)))
            except (FailureReply, TimeoutError, WaitCancelled) as exc:
                conn.send((type(exc).__name__, str(exc)))
        elif what == "cancel":
            cancelled.add(args[0])  # no answer is awaited; a wait already over is never asked again
        elif what == "visible_text":
            conn.send(api.visible_text(*args))
        elif what == "errors":
            conn.send(list(api.errors))
        elif what == "llm":
            conn.send({"delay": llm.delay, "calls": llm.calls, "max_in_flight": llm.max_in_flight})
        elif what == "llm_set":
            setattr(llm, *args)
            conn.send(None)
        elif what == "stop":
            (api if which == "api" else llm).stop()
            conn.send(None)
            return


def _cancelled(conn: Connection, seconds: float, *, wait: int, cancelled: set[int]) -> bool:
    """In a stand-in's process, during wait number `wait`: whether the bench has given it up, before
    (`cancelled`) or within `seconds`. Only a "cancel" arrives meanwhile: the bench asks one question
    at a time, and a cancel for an earlier wait can still come."""
    while wait not in cancelled and conn.poll(seconds):
        what, args = conn.recv()
        assert what == "cancel", what
        cancelled.add(args[0])
    return wait in cancelled


#: what each stand-in's process is asked for once more at stop, and answered from afterwards
_LAST: dict[str, dict[str, Any]] = {
    "api": {"calls": [], "errors": []},
    "llm": {"llm": {"delay": 0.0, "calls": 0, "max_in_flight": 0}},
}


class _Remote:
    """Questions to a stand-in's process, one at a time (from the bench's event loop, or from a
    worker thread for `RemoteBotAPI.wait_replies`, which holds the lock until every chat is answered).
    Once stopped, what it saw last (calls, errors, the LLM's counts) is still answered, as the
    in-process stand-ins do after `stop()`."""

    def __init__(self, conn: Connection, proc: multiprocessing.process.BaseProcess, last: dict[str, Any]) -> None:
        self.conn, self.proc = conn, proc
        self.keep = last  # the questions to ask at stop, with their answers should the process be gone
        self.last: dict[str, Any] | None = None  # set at stop
        self.lock = threading.Lock()  # one question at a time, from the event loop or a worker thread

    def ask(self, what: str, *args: Any) -> Any:
        if self.last is not None:
            if what == "calls":
                return self.last["calls"][args[0]:]
            if what in self.last:
                return self.last[what]
            raise RuntimeError(f"the stand-in has stopped: cannot {what}")
        with self.lock:
            self.conn.send((what, args))
            return self.conn.recv()

    def stop(self) -> None:
        if self.last is not None:
            return
        last = copy.deepcopy(self.keep)
        with contextlib.suppress(EOFError, OSError):
            last = {what: self.ask(what, 0) if what == "calls" else self.ask(what) for what in last}
            self.ask("stop")
        self.last = last
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()


class RemoteBotAPI:
    """The Bot API stand-in in its own process, as the bench uses it. `calls` fetches only the calls
    made since the last look (their `at` is CLOCK_MONOTONIC, the same clock in every process)."""

    def __init__(self, remote: _Remote, token: str, base_url: str) -> None:
        self._remote, self.token, self.base_url = remote, token, base_url
        self._calls: list[Call] = []

    def push(self, kind: str, obj: dict[str, Any]) -> int:
        return self.push_all(kind, [obj])[0]

    def push_all(self, kind: str, objs: list[dict[str, Any]]) -> list[int]:
        return list(self._remote.ask("push_all", kind, objs))

    @property
    def calls(self) -> list[Call]:
        new = self._remote.ask("calls", len(self._calls))
        self._calls += [Call(method, params, at, result) for method, params, at, result in new]
        return self._calls

    @property
    def errors(self) -> list[tuple[str, str]]:
        return list(self._remote.ask("errors"))

    def visible_text(self, chat_id: int) -> str:
        return str(self._remote.ask("visible_text", chat_id))

    def wait_replies(self, wait: int, chats: list[int], within: float, when: str) -> dict[int, float]:
        """`watch_replies` in the stand-in's process; blocks until it answers. `wait` numbers it for
        `cancel_wait`. It holds the question lock meanwhile: ask this stand-in nothing else until it
        returns (a question from the event loop would block the bot in it)."""
        kind, value = self._remote.ask("wait_replies", wait, chats, within, when)
        if kind == "ok":
            return dict(value)
        raise {"FailureReply": FailureReply, "WaitCancelled": WaitCancelled}.get(kind, TimeoutError)(value)

    def cancel_wait(self, wait: int) -> None:
        """Give up wait number `wait`, whether it has begun or not. Sent outside the question lock,
        which the waiting thread holds (or is about to take): the stand-in reads it between its looks
        at the calls, or before the wait begins. A message this small is one write to the pipe, so
        it cannot interleave with the question's."""
        with contextlib.suppress(OSError):
            self._remote.conn.send(("cancel", (wait,)))

    def stop(self) -> None:
        self._remote.stop()


class RemoteLLM:
    """The LLM stand-in in its own process: `delay` and `max_in_flight` can be set, `calls` read."""

    def __init__(self, remote: _Remote, base_url: str) -> None:
        object.__setattr__(self, "_remote", remote)
        object.__setattr__(self, "base_url", base_url)

    def __getattr__(self, name: str) -> Any:
        if name in ("delay", "calls", "max_in_flight"):
            return self._remote.ask("llm")[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in ("delay", "max_in_flight"):
            raise AttributeError(f"{name} cannot be set on the LLM stand-in's process")
        self._remote.ask("llm_set", name, value)

    def stop(self) -> None:
        self._remote.stop()


def settings_for(api: FakeBotAPI, llm: FakeLLM, data_dir: Path, **extra: object) -> Settings:
    """The bot's own defaults (LLM_MAX_CONCURRENCY, STATUS_GRACE_S, ...) pointed at the loopback servers,
    so the figures describe what users get; `extra` overrides a setting."""
    return Settings.model_validate({
        "openai_api_key": "sk-bench", "openai_base_url": llm.base_url, "llm_model": "fake-model",
        "telegram_bot_token": api.token, "telegram_api_base_url": api.base_url,
        "data_dir": data_dir, "log_level": "WARNING", **extra,
    })


def unique_article(i: int) -> str:
    """A different text each time, so the brief cache does not answer."""
    return f"{ARTICLE}\n\nتحديث رقم {i}"


def call_chat(call: Call) -> int:
    try:
        return int(call.params.get("chat_id", 0))
    except (TypeError, ValueError):
        return 0


def is_final(call: Call) -> bool:
    """The final piece of a brief: the message (new or edited, classic or rich) that carries the buttons."""
    return call.method in ("sendMessage", "editMessageText", "sendRichMessage") and bool(call.params.get("reply_markup"))


def _any_call(call: Call) -> bool:
    return True


#: When a chat counts as answered: at the last message carrying the buttons (a brief's final piece,
#: REPLY), or at the bot's first call of any kind in it (the echo bot's reply, FIRST_CALL).
REPLY, FIRST_CALL = "reply", "first"
#: for each: which calls count, and whether the last of them counts (else the first)
_RULES: dict[str, tuple[Callable[[Call], bool], bool]] = {REPLY: (is_final, True), FIRST_CALL: (_any_call, False)}
_WAITS = itertools.count(1)


class FailureReply(RuntimeError):
    """A chat got the bot's failure reply: no brief will come."""


class WaitCancelled(Exception):
    """The bench stopped waiting (cancelled, interrupted)."""


def watch_replies(api: FakeBotAPI, chats: list[int], within: float, when: str,
                  stopped: Callable[[float], bool]) -> dict[int, float]:
    """Block until every chat is answered (`when`: REPLY or FIRST_CALL); return when each was, as the
    server recorded it. Run where the server is, in a thread: the calls are read once each.
    `stopped(s)` waits up to s seconds and says whether the bench has stopped waiting."""
    counts, keep_last = _RULES[when]
    deadline = time.monotonic() + within
    wanted = set(chats)
    times: dict[int, float] = {}
    seen = 0
    while True:
        calls = api.calls[seen:]
        seen += len(calls)
        for call in calls:
            chat = call_chat(call)
            if chat not in wanted:
                continue
            if str(call.params.get("text", "")).startswith("⚠️"):
                raise FailureReply(f"chat {chat} got a failure reply: {call.params['text'][:200]}")
            if counts(call) and (keep_last or chat not in times):
                times[chat] = call.at
        if len(times) == len(wanted):
            return times
        if time.monotonic() > deadline:
            break
        # the stand-in records each call's time itself: how often we look only sets when we learn of it
        if stopped(0.005):
            raise WaitCancelled
    missing = sorted(wanted - set(times))
    seen_text = api.visible_text(missing[0]).replace("\n", " ")[:200] or "nothing"
    raise TimeoutError(f"{len(missing)} of {len(wanted)} chats got no reply within {within:g} s; "
                       f"chat {missing[0]} sees: {seen_text}")


async def wait_replies(api: FakeBotAPI | RemoteBotAPI, chats: list[int], within: float = 600,
                       when: str = REPLY) -> dict[int, float]:
    """Wait until every chat is answered (`when`: REPLY or FIRST_CALL); return when each was.

    The bot under test shares this process, so the watching is done where the Bot API stand-in is:
    in its own process, which answers once every chat is answered (this process only waits, in a
    thread, for that answer), or in a thread beside a stand-in in this process. Polling the
    stand-in's process for its calls would cost the bot's process CPU and interpreter lock while it
    works (pickled calls, a thread woken per look).
    """
    if isinstance(api, RemoteBotAPI):
        wait = next(_WAITS)
        try:
            return await asyncio.to_thread(api.wait_replies, wait, chats, within, when)
        except asyncio.CancelledError:
            api.cancel_wait(wait)  # else the watch, and the thread waiting for it, would run to `within`
            raise
    stop = threading.Event()
    try:
        return await asyncio.to_thread(watch_replies, api, chats, within, when, stop.wait)
    finally:
        stop.set()


def calls_per_chat(api: FakeBotAPI, chats: Iterable[int]) -> Counter[str]:
    """Bot API calls made in these chats, by method (getUpdates and set-up calls are not in a chat)."""
    wanted = set(chats)
    return Counter(c.method for c in list(api.calls) if call_chat(c) in wanted)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:8.1f} ms   p95 {pct(values, 0.95) * 1000:8.1f} ms"


def counts(what: str, example: str) -> Callable[[str], list[int]]:
    """An argparse type: a comma-separated list of `what` counts, each at least 1."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"a comma-separated list of {what} counts, e.g. {example}") from None
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(f"a comma-separated list of {what} counts ≥ 1, e.g. {example}")
        return values

    return parse


__all__ = [
    "ARTICLE",
    "FIRST_CALL",
    "REPLY",
    "ROOT",
    "STAND_INS",
    "TESTDATA",
    "call_chat",
    "calls_per_chat",
    "counts",
    "is_final",
    "median",
    "message",
    "pct",
    "servers",
    "settings_for",
    "summary",
    "unique_article",
    "wait_replies",
]
