"""Safe fetching against a real loopback web server: every address trick refused, caps held."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.errors import BlockedAddress, FetchBlocked, FetchError, FetchTooLarge
from bot.fetch import Fetcher
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
