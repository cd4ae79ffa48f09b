"""Bot API calls over aiohttp instead of python-telegram-bot's default httpx backend, for CPU.

aiohttp parses HTTP in C, and every brief takes two calls or more besides the long poll. Parameters
go as one UTF-8 JSON body (Telegram takes JSON for any call without files): form-encoding
percent-quotes a long Arabic message byte by byte in Python, far slower than `json.dumps`.

`AiohttpRequest` keeps `HTTPXRequest`'s contract: its defaults, a pool of `connection_pool_size`
connections waited for at most `pool_timeout`, a timeout passed as `DEFAULT_NONE` meaning this
request's default, `TimedOut` for timeouts and `NetworkError` for the rest, with messages that never
carry the URL (it holds the bot's token)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

JSON_HEADERS = {"Content-Type": "application/json"}
# the token sits in the path (/bot<token>/method, /file/bot<token>/path); aiohttp puts whole URLs in messages
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S*", re.IGNORECASE)
_TOKEN_PATH = re.compile(r"/bot[^/\s]*")

Proxy = tuple[URL | None, dict[str, str] | None]


def scrub(text: str) -> str:
    """`text` without URLs or Bot API paths, so that an error message cannot leak the token."""
    return _TOKEN_PATH.sub("/bot…", _URL.sub("<url>", text))


class AiohttpRequest(BaseRequest):
    """`telegram.request.BaseRequest` on one `aiohttp.ClientSession`, opened by `initialize()`
    (a session belongs to the running event loop) and closed by `shutdown()`.

    aiohttp has no write timeout: the whole call is bounded by connect + write + read instead, the
    sum of the phases httpx bounds one by one (an upload that stalls still ends)."""

    __slots__ = ("_connect_timeout", "_media_write_timeout", "_pool", "_pool_size", "_pool_timeout", "_proxies",
                 "_read_timeout", "_session", "_write_timeout")

    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout, self._write_timeout = read_timeout, write_timeout
        self._connect_timeout, self._pool_timeout = connect_timeout, pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._pool = asyncio.Semaphore(connection_pool_size)  # replaced with the session: it binds to a loop
        self._proxies: dict[str, Proxy] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        self._pool = asyncio.Semaphore(self._pool_size)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._pool_size),
            headers={"User-Agent": self.USER_AGENT},
            # no cookies from the Bot API; without a jar, no cookie filtering per call
            cookie_jar=aiohttp.DummyCookieJar(),
            # trust_env would read ~/.netrc and the proxy variables in a thread on every call;
            # the proxy variables are read once per origin instead (`_proxy`)
            trust_env=False,
        )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _proxy(self, url: str) -> Proxy:
        """HTTP(S)_PROXY and NO_PROXY, which httpx honoured, read once per Bot API origin."""
        end = url.find("/", url.find("://") + 3)
        origin = url if end < 0 else url[:end]
        if origin not in self._proxies:
            try:
                proxy, auth = get_env_proxy_for_url(URL(origin))
            except LookupError:
                self._proxies[origin] = None, None
            else:
                self._proxies[origin] = proxy, {"Proxy-Authorization": auth.encode()} if auth else None
        return self._proxies[origin]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if files else self._write_timeout
        total = (None if connect_timeout is None or write_timeout is None or read_timeout is None
                 else connect_timeout + write_timeout + read_timeout)
        timeout = aiohttp.ClientTimeout(total=total, connect=connect_timeout, sock_read=read_timeout)

        data: aiohttp.FormData | bytes | None = None
        headers = None
        if files:
            assert request_data is not None
            data = aiohttp.FormData()
            for name, value in request_data.json_parameters.items():
                data.add_field(name, value)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            data = json.dumps(request_data.parameters, ensure_ascii=False).encode()
            headers = JSON_HEADERS
        proxy, proxy_headers = self._proxy(url)

        if self._pool.locked():  # only a full pool needs a timer; the usual call takes its connection at once
            try:
                async with asyncio.timeout(pool_timeout):
                    await self._pool.acquire()
            except TimeoutError as exc:
                raise TimedOut("Pool timeout: all connections in the connection pool are occupied. Request was *not* "
                               "sent to Telegram. Consider adjusting the connection pool size or the pool "
                               "timeout.") from exc
        else:
            await self._pool.acquire()
        try:
            async with session.request(method, url, data=data, headers=headers, timeout=timeout, proxy=proxy,
                                       proxy_headers=proxy_headers, allow_redirects=False) as response:
                return response.status, await response.read()
        # `from None`: aiohttp's own messages hold the URL, and so the token; a traceback would print them
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut(f"Timed out: {scrub(str(exc)) or type(exc).__name__}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NetworkError(f"{type(exc).__module__}.{type(exc).__name__}: {scrub(str(exc))}") from None
        finally:
            self._pool.release()
