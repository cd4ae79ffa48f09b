"""Safe HTTP fetching: public http(s) addresses only, checked at every hop, with caps.

Each hop resolves the host, refuses any address that is not public (loopback, private,
link-local, multicast, reserved, cloud metadata; IPv4 and IPv6 in any spelling, IPv4 addresses
embedded in IPv6 included), and then connects to the very address it checked, so a DNS answer
cannot change between check and use. Bodies are decoded here, layer by layer, so that the byte
cap bounds what every compression layer produces, not only what came over the wire.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from bot.ops.config import Settings
from bot.ops.errors import BlockedAddress, FetchBlocked, FetchError, FetchTooLarge

try:  # optional: installed with httpx's brotli/zstd extras
    import brotli
except ImportError:  # pragma: no cover - depends on the installation
    brotli = None
try:
    import zstandard
except ImportError:  # pragma: no cover - depends on the installation
    zstandard = None

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: cloud metadata and credential endpoints: refused even when private addresses are allowed.
#: All of link-local IPv4 (169.254.169.254 for AWS/GCP/Azure/OCI, 169.254.170.2 for container
#: credentials, ...), Alibaba's 100.100.100.200 and AWS's IPv6 service range (fd00:ec2::254).
METADATA_NETWORKS = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "100.100.100.200/32", "fd00:ec2::/32")]
#: IPv6 ranges that carry an IPv4 address in their last 32 bits
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, RFC 6052 /48 layout
_REDIRECTS = {301, 302, 303, 307, 308}
#: largest piece any decoding layer hands on at once; each layer's total is capped too
DECODE_CHUNK = 64 * 1024
#: more stacked encodings than this is not a real site (each layer costs a decoder)
MAX_ENCODING_LAYERS = 3


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


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
    (::a.b.c.d), NAT64 (64:ff9b::/96 and 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (server and
    client). Empty for an IPv4 address or a plain IPv6 one."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    n = int(ip)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE and n > 1:  # :: and ::1 are IPv6's own unspecified and loopback
        found.append(ipaddress.IPv4Address(n & 0xFFFFFFFF))
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(n & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL:  # bits 48-63 and 72-87 around the reserved octet
        found.append(ipaddress.IPv4Address(((n >> 64) & 0xFFFF) << 16 | ((n >> 40) & 0xFFFF)))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_metadata(ip: IPAddress) -> bool:
    """A cloud metadata or credentials address, in any spelling (embedded in IPv6 included)."""
    return any(a in net for a in (ip, *embedded_ipv4(ip)) for net in METADATA_NETWORKS if a.version == net.version)


def _public_v(ip: IPAddress) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def is_public(ip: IPAddress) -> bool:
    """A globally reachable unicast address. An IPv6 address that embeds IPv4 ones (NAT64,
    6to4, ...) is judged by what it embeds: that is where the packets end up."""
    if is_metadata(ip):
        return False
    inner = embedded_ipv4(ip)
    return all(_public_v(a) for a in inner) if inner else _public_v(ip)


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


# --- content decoding -----------------------------------------------------------------------
class _Sink(Protocol):
    def __call__(self, data: bytes) -> None: ...


class _Capped:
    """Counts what one layer produces and stops the whole read once it passes the cap, so that
    no layer ever holds more than the cap plus one chunk."""

    def __init__(self, out: _Sink, cap: int, layer: str) -> None:
        self.out, self.cap, self.layer, self.total = out, cap, layer, 0

    def __call__(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.cap:
            where = f" once decoded ({self.layer})" if self.layer != "identity" else ""
            raise FetchTooLarge(f"more than {self.cap} bytes{where}")
        if data:
            self.out(data)


class _Zlib:
    """gzip (every member of a multi-member stream) or deflate (zlib-wrapped, or raw as some
    servers send it), decoded DECODE_CHUNK bytes at a time."""

    def __init__(self, out: _Sink, gzip: bool) -> None:
        self.out, self.gzip = out, gzip
        self.wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
        self.obj: Any = zlib.decompressobj(self.wbits)  # None between two gzip members
        self.started = False
        self.done = False  # after the stream: what follows is ignored, as browsers do
        self.held = b""  # the start of a next gzip member, too short to recognise yet

    def feed(self, data: bytes) -> None:
        data, self.held = self.held + data, b""
        while not self.done:
            if self.obj is None:
                if len(data) < 2:
                    self.held = data
                    return
                if data[:2] != b"\x1f\x8b":
                    self.done = True
                    return
                self.obj = zlib.decompressobj(self.wbits)
            try:
                out = self.obj.decompress(data, DECODE_CHUNK)
            except zlib.error as exc:
                if self.gzip or self.started:
                    raise FetchError(f"the page's compression is broken ({exc})") from exc
                self.wbits = -zlib.MAX_WBITS  # "deflate" without the zlib wrapper
                self.obj = zlib.decompressobj(self.wbits)
                self.started = True
                continue
            self.started = True
            self.out(out)
            if self.obj.eof:
                data, self.obj = self.obj.unused_data, None
                self.done = not self.gzip
                continue
            data = self.obj.unconsumed_tail
            # a full chunk may leave output pending inside zlib even with no input left
            if not data and len(out) < DECODE_CHUNK:
                return

    def close(self) -> None:
        pass  # a cut stream gives what it has; the extraction judges whether that is an article


class _Brotli:
    def __init__(self, out: _Sink) -> None:
        self.out = out
        self.obj: Any = brotli.Decompressor()

    def feed(self, data: bytes) -> None:
        try:
            if self.obj.is_finished():
                return
            out = self.obj.process(data, output_buffer_limit=DECODE_CHUNK)
            self.out(out)
            # the limit is where the buffer stops growing: drain what is left, a bounded piece a call
            while not self.obj.is_finished() and (out or not self.obj.can_accept_more_data()):
                out = self.obj.process(b"", output_buffer_limit=DECODE_CHUNK)
                self.out(out)
        except brotli.error as exc:
            raise FetchError(f"the page's compression is broken ({exc})") from exc

    def close(self) -> None:
        pass


class _Zstd:
    def __init__(self, out: _Sink) -> None:
        self.out = out

        class Writer:  # zstandard pushes its output here, write_size bytes at a time
            def write(self, data: bytes) -> int:
                out(data)
                return len(data)

        self.obj: Any = zstandard.ZstdDecompressor().stream_writer(Writer(), write_size=DECODE_CHUNK)

    def feed(self, data: bytes) -> None:
        try:
            self.obj.write(data)
        except zstandard.ZstdError as exc:
            raise FetchError(f"the page's compression is broken ({exc})") from exc

    def close(self) -> None:
        pass


def supported_encodings() -> list[str]:
    """What this installation decodes, in the order it is offered in Accept-Encoding."""
    return ["gzip", "deflate"] + (["br"] if brotli else []) + (["zstd"] if zstandard else [])


class BodyDecoder:
    """The Content-Encoding layers of a body, undone in reverse order of application, every
    layer capped at `cap` bytes of output as it is produced."""

    def __init__(self, content_encoding: str, cap: int) -> None:
        names = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        names = [{"x-gzip": "gzip"}.get(n, n) for n in names if n != "identity"]
        unknown = [n for n in names if n not in supported_encodings()]
        if unknown:
            raise FetchError(f"unsupported content encoding {unknown[0]!r}")
        if len(names) > MAX_ENCODING_LAYERS:
            raise FetchError(f"{len(names)} stacked content encodings")
        self.body = bytearray()
        sink: _Sink = self.body.extend
        self.layers: list[_Zlib | _Brotli | _Zstd] = []
        # the first-applied encoding is decoded last, so build the chain from the inside out
        for name in names:
            capped = _Capped(sink, cap, name)
            layer = (_Zlib(capped, gzip=True) if name == "gzip" else _Zlib(capped, gzip=False) if name == "deflate"
                     else _Brotli(capped) if name == "br" else _Zstd(capped))
            self.layers.append(layer)
            sink = layer.feed
        # the wire is capped too: endless compressed padding that decodes to nothing still ends
        self.feed: _Sink = _Capped(sink, cap, "identity")

    def finish(self) -> bytes:
        for layer in reversed(self.layers):
            layer.close()
        return bytes(self.body)


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
                     "Accept-Language": "ar,en;q=0.8",
                     # only what BodyDecoder undoes: httpx's own decoding is never used
                     "Accept-Encoding": ", ".join(supported_encodings())},
        )
        self._cache: OrderedDict[str, Response] = OrderedDict()
        self._cache_max = 512

    async def close(self) -> None:
        await self._client.aclose()

    # --- address policy ---------------------------------------------------------------------
    def _allowed(self, ip: IPAddress) -> bool:
        # metadata first: no setting and no test exception opens the cloud's credentials
        if is_metadata(ip):
            return False
        if any(ip in net for net in self.allow_networks):
            return True
        if self.settings.fetch_allow_private_addresses:
            return not any(a.is_unspecified for a in (ip, *embedded_ipv4(ip)))
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
                decoder = BodyDecoder(resp.headers.get("content-encoding", ""), self.settings.fetch_max_bytes)
                # raw bytes: httpx would decode each network chunk whole before any cap applied
                async for chunk in resp.aiter_raw():
                    decoder.feed(chunk)
                return Response(url=str(target), status=resp.status_code,
                                content_type=resp.headers.get("content-type", ""),
                                body=decoder.finish(), fetched_at=time.time())
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
