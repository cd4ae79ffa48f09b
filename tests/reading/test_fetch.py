"""Safe fetching against a real loopback web server: every address trick refused, caps held."""

from __future__ import annotations

import gzip
import ipaddress
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import brotli
import pytest
import zstandard

from bot.ops.config import Settings
from bot.ops.errors import BlockedAddress, FetchBlocked, FetchError, FetchTooLarge
from bot.reading.fetch import DECODE_CHUNK, BodyDecoder, Fetcher, is_public, supported_encodings
from tests.conftest import TESTDATA
from tests.fakes.web_server import FakeWeb

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


@pytest.fixture
def fetch_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, fetch_timeout_s=3, fetch_max_bytes=2_000_000)  # type: ignore[call-arg]


@pytest.fixture
async def fetcher(fetch_settings: Settings) -> AsyncIterator[Fetcher]:
    """A fetcher that treats our one loopback server as if it were a public site."""

    async def resolver(host: str, port: int) -> list[str]:
        return {"news.example": ["127.0.0.1"], "evil.example": ["10.1.2.3"],
                "mixed.example": ["127.0.0.1", "192.168.1.5"]}.get(host, ["93.184.216.34"])

    f = Fetcher(fetch_settings, resolver=resolver, allow_networks=LOOPBACK)
    yield f
    await f.close()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd", "ftp://example.com/file", "javascript:alert(1)", "data:text/html,hi",
        "gopher://example.com/", "http://user:pw@example.com/",
        "http://127.0.0.1/", "http://localhost/", "http://LOCALHOST./", "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://192.168.0.1/",
        "http://172.16.5.4/", "http://100.64.0.1/", "http://0.0.0.0/", "http://224.0.0.1/",
        "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/",
        "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1]/",
        "http://[fd00:ec2::254]/", "http://[fc00::1]/", "http://metadata.google.internal/",
    ],
)
async def test_non_public_addresses_are_refused(fetch_settings: Settings, url: str) -> None:
    f = Fetcher(fetch_settings)
    try:
        with pytest.raises(BlockedAddress):
            await f.fetch(url)
    finally:
        await f.close()


async def test_private_setting_off_refuses_our_own_loopback_server(fetch_settings: Settings, web: FakeWeb) -> None:
    f = Fetcher(fetch_settings)  # FETCH_ALLOW_PRIVATE_ADDRESSES defaults to false
    try:
        with pytest.raises(BlockedAddress, match="non-public"):
            await f.fetch(web.url("/page/bbc.com.52241221.html"))
    finally:
        await f.close()
    assert web.hits == []  # refused before connecting


async def test_private_setting_on_allows_loopback_but_never_metadata(fetch_settings: Settings, web: FakeWeb) -> None:
    f = Fetcher(fetch_settings.model_copy(update={"fetch_allow_private_addresses": True}))
    try:
        resp = await f.fetch(web.url("/page/bbc.com.52241221.html"))
        assert resp.status == 200 and b"New York" in resp.body
        for metadata in ("http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/"):
            with pytest.raises(BlockedAddress):
                await f.fetch(metadata)
    finally:
        await f.close()


async def test_name_resolving_to_private_address(fetcher: Fetcher) -> None:
    with pytest.raises(BlockedAddress, match=r"10\.1\.2\.3"):
        await fetcher.fetch("http://evil.example/article")
    with pytest.raises(BlockedAddress, match=r"192\.168\.1\.5"):
        await fetcher.fetch("http://mixed.example/article")  # one bad answer is enough


async def test_connects_to_the_checked_address_with_the_real_host(fetcher: Fetcher, web: FakeWeb) -> None:
    resp = await fetcher.fetch(f"http://news.example:{web.port}/page/bbc.com.52241221.html")
    assert resp.status == 200
    assert web.host_headers == [f"news.example:{web.port}"]
    assert resp.url == f"http://news.example:{web.port}/page/bbc.com.52241221.html"


@pytest.mark.parametrize("target", ["http://10.0.0.1/admin", "http://169.254.169.254/latest/meta-data/",
                                    "http://127.0.0.2:{port}/page/bbc.com.52241221.html", "file:///etc/passwd",
                                    "http://evil.example/"])
async def test_redirect_to_private_address_is_refused(fetcher: Fetcher, web: FakeWeb, target: str) -> None:
    url = web.url("/redirect?to=" + target.format(port=web.port))
    with pytest.raises(BlockedAddress):
        await fetcher.fetch(url)
    assert web.hits == ["/redirect"]


async def test_redirects_followed_and_counted(fetcher: Fetcher, web: FakeWeb) -> None:
    resp = await fetcher.fetch(web.url("/redirect?code=301&to=/page/bbc.com.52241221.html"))
    assert resp.url.endswith("/page/bbc.com.52241221.html")
    with pytest.raises(FetchError, match="redirects"):
        await fetcher.fetch(web.url("/loop"))
    assert web.hits.count("/loop") == 6  # the first request and five redirects


async def test_body_larger_than_cap_stops_reading(fetcher: Fetcher, web: FakeWeb) -> None:
    with pytest.raises(FetchTooLarge):
        await fetcher.fetch(web.url("/endless"))
    assert web.bytes_sent < 20 * fetcher.settings.fetch_max_bytes  # not buffered to the end
    web.routes["/announced"] = (200, "text/html", b"x" * 2_500_000)
    with pytest.raises(FetchTooLarge, match="announced"):
        await fetcher.fetch(web.url("/announced"))


async def test_slow_trickle_hits_the_total_time_cap(fetcher: Fetcher, web: FakeWeb) -> None:
    fetcher.settings = fetcher.settings.model_copy(update={"fetch_timeout_s": 1.0})
    started = time.monotonic()
    with pytest.raises(FetchBlocked, match="within 1 s"):
        await fetcher.fetch(web.url("/trickle"))
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(("status", "kind"), [(403, FetchBlocked), (429, FetchBlocked), (503, FetchBlocked),
                                              (404, FetchError)])
async def test_http_errors(fetcher: Fetcher, web: FakeWeb, status: int, kind: type) -> None:
    with pytest.raises(kind, match=str(status)):
        await fetcher.fetch(web.url(f"/status/{status}"))


async def test_same_link_is_fetched_once(fetcher: Fetcher, web: FakeWeb) -> None:
    first = await fetcher.fetch(web.url("/redirect?to=/page/bbc.com.52241221.html"))
    again = await fetcher.fetch(web.url("/redirect?to=/page/bbc.com.52241221.html"))
    final = await fetcher.fetch(web.url("/page/bbc.com.52241221.html"))  # the final URL, shared elsewhere
    assert first.body == again.body == final.body
    assert web.hits == ["/redirect", "/page/bbc.com.52241221.html"]


@pytest.mark.parametrize(("cert_for", "ok"), [("news.example", True), ("other.example", False)])
async def test_https_to_the_pinned_address_still_verifies_the_real_host(fetch_settings: Settings, cert_for: str,
                                                                        ok: bool) -> None:
    import ssl

    import httpx
    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(cert_for).configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    web = FakeWeb(TESTDATA / "html")
    web.server.socket = server_ctx.wrap_socket(web.server.socket, server_side=True)
    web.start()

    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    f = Fetcher(fetch_settings, resolver=resolver, allow_networks=LOOPBACK,
                transport=httpx.AsyncHTTPTransport(verify=client_ctx))
    try:
        url = f"https://news.example:{web.port}/page/bbc.com.52241221.html"
        if ok:
            assert (await f.fetch(url)).status == 200  # connected to 127.0.0.1, verified as news.example
            assert web.host_headers == [f"news.example:{web.port}"]
        else:
            with pytest.raises(FetchError):
                await f.fetch(url)
            assert web.hits == []
    finally:
        await f.close()
        web.stop()


# --- compression: the cap bounds what every layer produces -----------------------------------
def gzip_bomb(decoded_mib: int) -> bytes:
    """A gzip stream of `decoded_mib` MiB of zeros, built without compressing them all: after a
    full flush every further MiB of zeros compresses to the same bytes. Its trailer (CRC, size)
    is wrong, which a reader only notices after decoding everything."""
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    mib = bytes(1 << 20)
    first = co.compress(mib) + co.flush(zlib.Z_FULL_FLUSH)
    again = co.compress(mib) + co.flush(zlib.Z_FULL_FLUSH)
    return first + again * (decoded_mib - 1) + co.flush()


def serve(web: FakeWeb, path: str, body: bytes, encoding: str, ctype: str = "text/html; charset=utf-8") -> str:
    web.routes[path] = (200, ctype, body)
    web.headers[path] = {"Content-Encoding": encoding}
    return web.url(path)


def deflate_raw(data: bytes) -> bytes:
    co = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return co.compress(data) + co.flush()


PAGE = (TESTDATA / "html" / "bbc.com.52241221.html").read_bytes()
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate (raw)": deflate_raw,
    "br": lambda b: brotli.compress(b, quality=5),
    "zstd": lambda b: zstandard.ZstdCompressor(level=3).compress(b),
    "gzip, gzip": lambda b: gzip.compress(gzip.compress(b)),
    "deflate, br, zstd": lambda b: zstandard.ZstdCompressor().compress(brotli.compress(zlib.compress(b))),
}


@pytest.mark.parametrize("name", list(ENCODERS))
async def test_every_encoding_is_decoded(fetcher: Fetcher, web: FakeWeb, name: str) -> None:
    resp = await fetcher.fetch(serve(web, "/enc", ENCODERS[name](PAGE), name.replace(" (raw)", "")))
    assert resp.body == PAGE


async def test_multi_member_gzip_is_read_whole(fetcher: Fetcher, web: FakeWeb) -> None:
    resp = await fetcher.fetch(serve(web, "/members", gzip.compress(PAGE[:5000]) + gzip.compress(PAGE[5000:]), "gzip"))
    assert resp.body == PAGE


BOMBS = {  # 64 MiB of zeros each, far past the 2 MB cap of these tests
    "gzip": lambda: gzip_bomb(64),
    "deflate": lambda: zlib.compress(bytes(64 << 20), 9),
    "br": lambda: brotli.compress(bytes(64 << 20), quality=1),
    "zstd": lambda: zstandard.ZstdCompressor(level=1).compress(bytes(64 << 20)),
    "gzip, gzip": lambda: gzip.compress(gzip_bomb(1024)),
}


@pytest.mark.parametrize("name", list(BOMBS))
async def test_compression_bombs_are_refused(fetcher: Fetcher, web: FakeWeb, name: str) -> None:
    with pytest.raises(FetchTooLarge, match="once decoded"):
        await fetcher.fetch(serve(web, "/bomb", BOMBS[name](), name))


def test_no_layer_holds_more_than_the_cap() -> None:
    cap = 1_000_000
    decoder = BodyDecoder("gzip, gzip", cap)
    outer = gzip.compress(gzip_bomb(1024))  # 1 GiB inside 1 MiB inside a few KB
    with pytest.raises(FetchTooLarge):
        for i in range(0, len(outer), 1024):
            decoder.feed(outer[i:i + 1024])
    assert len(decoder.body) <= cap
    assert all(layer.out.total <= cap + DECODE_CHUNK for layer in decoder.layers)  # type: ignore[union-attr]


BOMB_PROBE = """
import asyncio, ipaddress, resource, sys
from bot.ops.config import Settings
from bot.reading.fetch import Fetcher

async def main() -> None:
    f = Fetcher(Settings(_env_file=None), allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        await f.fetch(sys.argv[1])
    except Exception as exc:
        print(type(exc).__name__)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)

asyncio.run(main())
"""


def test_gzip_inside_gzip_bomb_keeps_memory_low(web: FakeWeb) -> None:
    """A gzip bomb: a few KB with `Content-Encoding: gzip, gzip` that decodes to
    1 GiB. Measured in a process of its own, with the default 5 MB cap."""
    url = serve(web, "/bomb", gzip.compress(gzip_bomb(1024)), "gzip, gzip")
    assert len(web.routes["/bomb"][2]) < 8_000
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-c", BOMB_PROBE, url], capture_output=True, text=True, timeout=60,
                       cwd=Path(__file__).resolve().parents[2])
    kind, grown_kib = r.stdout.split()
    assert kind == "FetchTooLarge", r.stderr
    assert int(grown_kib) < 300 * 1024  # under 300 MB for the link
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("encoding", ["compress", "gzip, gzip, gzip, gzip", "exi"])
async def test_unknown_or_absurd_encodings_are_refused(fetcher: Fetcher, web: FakeWeb, encoding: str) -> None:
    with pytest.raises(FetchError, match="encoding"):
        await fetcher.fetch(serve(web, "/odd", PAGE, encoding))


async def test_only_decodable_encodings_are_asked_for(fetcher: Fetcher, web: FakeWeb) -> None:
    await fetcher.fetch(web.url("/page/bbc.com.52241221.html"))
    assert set(web.accept_encodings[-1].replace(" ", "").split(",")) == set(supported_encodings())


# --- metadata addresses: refused in every spelling, whatever the settings --------------------
METADATA_FORMS = [
    "169.254.169.254", "169.254.170.2", "169.254.0.1", "169.254.255.255",  # AWS, ECS credentials, all of /16
    "[::ffff:169.254.170.2]",  # IPv4-mapped
    "[::a9fe:a9fe]",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]", "[64:ff9b::169.254.170.2]",  # NAT64
    "[64:ff9b:1:a9fe:00:a9fe::]",  # NAT64 local-use /48
    "[2002:a9fe:a9fe::1]",  # 6to4
    "[2001:0:4136:e378:8000:63bf:5601:5601]",  # Teredo, client 169.254.169.254 (inverted bits)
    "[2001:0:a9fe:a9fe:8000:63bf:3fff:fdd2]",  # Teredo, server 169.254.169.254
    "[fd00:ec2::254]", "100.100.100.200",
]


@pytest.mark.parametrize("host", METADATA_FORMS)
async def test_metadata_refused_even_when_private_addresses_are_allowed(fetch_settings: Settings, host: str) -> None:
    f = Fetcher(fetch_settings.model_copy(update={"fetch_allow_private_addresses": True}), allow_networks=LOOPBACK)
    try:
        with pytest.raises(BlockedAddress):
            await f.check_url(f"http://{host}/latest/meta-data/")
    finally:
        await f.close()


async def test_names_resolving_to_metadata_are_refused(fetch_settings: Settings) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"creds.example": ["169.254.170.2"], "nat64.example": ["64:ff9b::a9fe:a9fe"]}[host]

    f = Fetcher(fetch_settings.model_copy(update={"fetch_allow_private_addresses": True}), resolver=resolver)
    try:
        for host in ("creds.example", "nat64.example"):
            with pytest.raises(BlockedAddress, match="non-public"):
                await f.check_url(f"http://{host}/v2/credentials")
    finally:
        await f.close()


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "::7f00:1", "::ffff:7f00:1", "2002:7f00:1::1", "2002:c0a8:101::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
])
def test_embedded_private_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1", "2606:4700::1111"])
def test_public_addresses_stay_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
async def test_broken_compression_is_a_fetch_error(fetcher: Fetcher, web: FakeWeb, encoding: str) -> None:
    garbage = {"gzip": b"\x1f\x8b\x08\x00" + b"\xff" * 64, "br": b"\xff" * 64, "zstd": b"\x28\xb5\x2f\xfd" + b"\xff" * 64}
    with pytest.raises(FetchError, match="compression is broken"):
        await fetcher.fetch(serve(web, "/broken", garbage[encoding], encoding))


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_gzip_members_split_anywhere(step: int) -> None:
    stream = gzip.compress(PAGE[:3000]) + gzip.compress(PAGE[3000:6000]) + gzip.compress(b"") + b"\x00\x00junk"
    decoder = BodyDecoder("gzip", 1_000_000)
    for i in range(0, len(stream), step):
        decoder.feed(stream[i:i + step])
    assert decoder.finish() == PAGE[:6000]
