"""Safe HTTP fetching: public http(s) addresses only, checked at every hop, with caps.

Each hop resolves the host, refuses any address that is not public (loopback, private,
link-local, multicast, reserved, cloud metadata; IPv4 and IPv6 in any spelling), and then
connects to the very address it checked, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from bot.config import Settings
from bot.errors import BlockedAddress, FetchBlocked, FetchError, FetchTooLarge

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: cloud metadata endpoints that are not caught by "private" everywhere
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass
class Response:
    url: str  # the final URL, after redirects
    status: int
    content_type: str
    body: bytes
    fetched_at: float


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the OS (which also accepts odd IPv4 forms such as 0x7f000001)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def unmap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address; else the address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return inner
    return ip


def is_public(ip: IPAddress) -> bool:
    ip = unmap(ip)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip in METADATA)


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP written in any form a resolver accepts: 127.0.0.1, 2130706433, 0x7f000001,
    0177.0.0.1, 127.1, [::ffff:127.0.0.1]."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


class Fetcher:
    """Fetches pages; one instance (and its cache) serves the whole process."""

    def __init__(self, settings: Settings, *, resolver: Resolver = system_resolver,
                 allow_networks: Sequence[IPNetwork] = (), transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.resolver = resolver
        # explicit exceptions for private deployments and tests (e.g. one loopback server)
        self.allow_networks = list(allow_networks)
        self._client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, transport=transport,
            timeout=httpx.Timeout(settings.fetch_timeout_s, connect=min(10.0, settings.fetch_timeout_s)),
            headers={"User-Agent": settings.fetch_user_agent,
                     "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
                     "Accept-Language": "ar,en;q=0.8"},
        )
        self._cache: OrderedDict[str, Response] = OrderedDict()
        self._cache_max = 512

    async def close(self) -> None:
        await self._client.aclose()

    # --- address policy ---------------------------------------------------------------------
    def _allowed(self, ip: IPAddress) -> bool:
        if any(ip in net for net in self.allow_networks):
            return True
        if self.settings.fetch_allow_private_addresses:
            inner = unmap(ip)
            return not inner.is_unspecified and inner not in METADATA
        return is_public(ip)

    async def check_url(self, url: str) -> tuple[httpx.URL, IPAddress]:
        """Validate scheme and host and pick the address to connect to, or raise BlockedAddress."""
        try:
            parts = urlsplit(url.strip())
        except ValueError as exc:
            raise BlockedAddress(f"malformed URL: {exc}") from exc
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedAddress(f"only http and https links are read, not {parts.scheme or 'this'!r}")
        if parts.username or parts.password:
            raise BlockedAddress("links with user names or passwords are not read")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise BlockedAddress("the link has no host")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:
            raise BlockedAddress("the link has an invalid port") from exc
        literal = parse_ip_literal(host)
        if literal is not None:
            candidates = [literal]
        else:
            if host.lower() == "localhost" or host.lower().endswith((".localhost", ".local", ".internal")):
                raise BlockedAddress(f"{host} is not a public address")
            try:
                resolved = await asyncio.wait_for(self.resolver(host, port), timeout=10)
            except (OSError, TimeoutError) as exc:
                raise FetchError(f"cannot resolve {host}") from exc
            candidates = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
        if not candidates:
            raise FetchError(f"cannot resolve {host}")
        # every address must pass: a name with one private answer may be a rebinding trick
        bad = [ip for ip in candidates if not self._allowed(ip)]
        if bad:
            raise BlockedAddress(f"{host} resolves to a non-public address ({bad[0]})")
        return httpx.URL(urlunsplit(parts._replace(fragment=""))), candidates[0]

    # --- fetching ---------------------------------------------------------------------------
    async def fetch(self, url: str) -> Response:
        """GET `url` following at most FETCH_MAX_REDIRECTS redirects, each one re-checked."""
        cached = self._cached(url)
        if cached is not None:
            return cached
        try:
            async with asyncio.timeout(self.settings.fetch_timeout_s):
                response = await self._fetch(url)
        except TimeoutError as exc:
            raise FetchBlocked(f"no complete answer within {self.settings.fetch_timeout_s:g} s") from exc
        except httpx.TimeoutException as exc:
            raise FetchBlocked("the site did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}") from exc
        self._remember(url, response)
        return response

    async def _fetch(self, url: str) -> Response:
        current = url
        for _hop in range(self.settings.fetch_max_redirects + 1):
            target, ip = await self.check_url(current)
            host_header = target.netloc.decode("ascii")
            request = self._client.build_request(
                "GET", target.copy_with(host=str(ip)), headers={"Host": host_header},
                extensions={"sni_hostname": target.host},
            )
            resp = await self._client.send(request, stream=True)
            try:
                if resp.status_code in _REDIRECTS:
                    location = resp.headers.get("location")
                    if not location:
                        raise FetchError(f"HTTP {resp.status_code} without a Location")
                    current = urljoin(str(target), location)
                    continue
                if resp.status_code in (401, 402, 403, 429) or resp.status_code >= 500:
                    raise FetchBlocked(f"HTTP {resp.status_code}")
                if resp.status_code >= 400:
                    raise FetchError(f"HTTP {resp.status_code}")
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.settings.fetch_max_bytes:
                    raise FetchTooLarge(f"{int(declared)} bytes announced")
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > self.settings.fetch_max_bytes:
                        raise FetchTooLarge(f"more than {self.settings.fetch_max_bytes} bytes")
                return Response(url=str(target), status=resp.status_code,
                                content_type=resp.headers.get("content-type", ""),
                                body=bytes(body), fetched_at=time.time())
            finally:
                await resp.aclose()
        raise FetchError(f"more than {self.settings.fetch_max_redirects} redirects")

    # --- cache ------------------------------------------------------------------------------
    def _cached(self, url: str) -> Response | None:
        hit = self._cache.get(url)
        if hit is None:
            return None
        if time.time() - hit.fetched_at > self.settings.fetch_cache_ttl_s:
            self._cache.pop(url, None)
            return None
        self._cache.move_to_end(url)
        return hit

    def _remember(self, url: str, response: Response) -> None:
        if self.settings.fetch_cache_ttl_s <= 0:
            return
        for key in {url, response.url}:  # the same page under its shared and its final URL
            self._cache[key] = response
            self._cache.move_to_end(key)
        while len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
