"""Fetching user-supplied URLs: allowed hosts only, public addresses only, no foreign redirects.

A file server on loopback plays the outside world. It is reachable only with a policy relaxed
for loopback (``public_only=False, https_only=False``), which is how the redirect and size rules
are exercised; the strict default refuses it, and every other private address, outright.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from patchwire.downloads import DownloadPolicy, DownloadRefused, download
from patchwire.testing.loopback import LoopbackServer


@dataclass
class FileServer:
    port: int = 0
    hits: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def serve(request: Request) -> Response:
            self.hits.append(request.url.path)
            name = request.path_params["name"]
            if name == "to-loopback":
                return RedirectResponse(f"http://127.0.0.1:{self.port}/secret")
            if name == "to-private":
                return RedirectResponse("http://10.0.0.7/secret")
            if name == "to-same-host":
                return RedirectResponse("/label.pdf")
            if name == "loop":
                return RedirectResponse("/loop")
            if name == "big.bin":
                return Response(b"x" * 2000, media_type="application/octet-stream")
            if name == "streamed.bin":

                async def chunks() -> AsyncIterator[bytes]:
                    for _ in range(20):
                        yield b"y" * 100

                return StreamingResponse(chunks(), media_type="application/octet-stream")
            if name == "label.pdf":
                return Response(b"%PDF-1.7 label", media_type="application/pdf")
            return Response(status_code=404)

        return Starlette(routes=[Route("/{name}", serve)])


@pytest.fixture
async def files() -> AsyncIterator[FileServer]:
    server = FileServer()
    served = LoopbackServer(server.app())
    server.port = served.port
    async with served:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


LOOPBACK_ONLY = DownloadPolicy(
    hosts=("localhost",), max_bytes=1000, https_only=False, public_only=False
)


async def test_a_file_from_an_allowed_host_is_fetched_and_same_host_redirects_followed(
    files: FileServer, http: httpx.AsyncClient
) -> None:
    base = f"http://localhost:{files.port}"
    fetched = await download(http, f"{base}/label.pdf", LOOPBACK_ONLY)
    assert (fetched.content, fetched.content_type, fetched.name) == (
        b"%PDF-1.7 label",
        "application/pdf",
        "label.pdf",
    )
    redirected = await download(http, f"{base}/to-same-host", LOOPBACK_ONLY)
    assert redirected.content == b"%PDF-1.7 label"
    assert files.hits == ["/label.pdf", "/to-same-host", "/label.pdf"]


async def test_a_redirect_to_127_0_0_1_or_a_private_address_is_not_followed(
    files: FileServer, http: httpx.AsyncClient
) -> None:
    base = f"http://localhost:{files.port}"
    with pytest.raises(DownloadRefused, match=r"redirects to another host \(127\.0\.0\.1\)"):
        await download(http, f"{base}/to-loopback", LOOPBACK_ONLY)
    with pytest.raises(DownloadRefused, match=r"redirects to another host \(10\.0\.0\.7\)"):
        await download(http, f"{base}/to-private", LOOPBACK_ONLY)
    with pytest.raises(DownloadRefused, match="more than 3 redirects"):
        await download(http, f"{base}/loop", LOOPBACK_ONLY)
    assert "/secret" not in files.hits


async def test_files_over_the_cap_are_refused_declared_or_streamed(
    files: FileServer, http: httpx.AsyncClient
) -> None:
    base = f"http://localhost:{files.port}"
    with pytest.raises(DownloadRefused, match="2000 bytes, over the limit of 1000"):
        await download(http, f"{base}/big.bin", LOOPBACK_ONLY)
    with pytest.raises(DownloadRefused, match="over the limit of 1000 bytes"):
        await download(http, f"{base}/streamed.bin", LOOPBACK_ONLY)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:{port}/label.pdf", "resolves to 127.0.0.1, a private, loopback"),
        ("https://localhost:{port}/label.pdf", "resolves to 127.0.0.1, a private, loopback"),
        ("https://10.1.2.3/label.pdf", "resolves to 10.1.2.3, a private"),
        ("https://169.254.169.254/latest/meta-data", "resolves to 169.254.169.254"),
        ("https://[::1]:{port}/label.pdf", "resolves to ::1"),
        ("https://[::ffff:127.0.0.1]/label.pdf", "resolves to ::ffff:127.0.0.1"),
        ("https://evil.example/label.pdf", "evil.example is not an allowed host"),
        ("https://files.example.com.evil.example/x", "is not an allowed host"),
        ("http://localhost:{port}/label.pdf", "only https URLs are fetched"),
        ("file:///etc/passwd", "only https URLs are fetched"),
        ("https://user:secret@localhost/label.pdf", "URLs carrying credentials"),
    ],
)
async def test_the_strict_policy_refuses_before_connecting(
    files: FileServer, http: httpx.AsyncClient, url: str, reason: str
) -> None:
    policy = DownloadPolicy(
        hosts=(
            "localhost",
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
            "*.example.com",
        ),
        max_bytes=1000,
    )
    with pytest.raises(DownloadRefused, match=reason):
        await download(http, url.format(port=files.port), policy)
    assert files.hits == [], "nothing was fetched"


def test_host_patterns_are_checked() -> None:
    with pytest.raises(ValueError, match="is not a host name"):
        DownloadPolicy(hosts=("https://files.example.com",), max_bytes=1)
    assert DownloadPolicy(hosts=("*.example.com",), max_bytes=1).allows("a.b.example.com")
    assert not DownloadPolicy(hosts=("*.example.com",), max_bytes=1).allows("example.com.evil")
