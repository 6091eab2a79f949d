"""Fetching a URL someone else chose (a user's file), without letting it reach inside.

A :class:`DownloadPolicy` says which hosts may be fetched from; :func:`download` fetches only
over HTTPS from those hosts, resolves the host itself and refuses private, loopback, link-local
and other non-public addresses, then connects to the address it checked (so a second DNS answer
cannot point elsewhere), follows redirects only within the same host (each hop checked again),
and stops reading at the size cap. Everything refused raises :class:`DownloadRefused` saying why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import mimetypes
import re
import socket
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from patchwire._errors import PatchwireError

__all__ = ["Download", "DownloadPolicy", "DownloadRefused", "check_host_pattern", "download"]

_HOST_PATTERN = re.compile(
    r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
)
_REDIRECTS = {301, 302, 303, 307, 308}


class DownloadRefused(PatchwireError):
    """Why a URL was not fetched (its host, its address, a redirect, its size, its answer)."""


@dataclass(frozen=True)
class Download:
    content: bytes
    content_type: str
    name: str


def check_host_pattern(pattern: str) -> str:
    """``pattern`` when it is a host name (``files.example.com``), ``*.example.com`` or an
    IP address."""
    try:
        ipaddress.ip_address(pattern)
    except ValueError:
        pass
    else:
        return pattern
    if not _HOST_PATTERN.fullmatch(pattern):
        raise ValueError(
            f"{pattern!r} is not a host name such as files.example.com or *.example.com "
            "(lowercase, no scheme, port or path)"
        )
    return pattern


@dataclass(frozen=True)
class DownloadPolicy:
    """Where :func:`download` may fetch from, and how much.

    ``hosts`` are exact host names or ``*.example.com`` (any subdomain of example.com).
    ``https_only`` and ``public_only`` are for tests against servers on loopback only.
    """

    hosts: tuple[str, ...]
    max_bytes: int
    https_only: bool = True
    public_only: bool = True
    max_redirects: int = 3

    def __post_init__(self) -> None:
        for pattern in self.hosts:
            check_host_pattern(pattern)

    def allows(self, host: str) -> bool:
        return any(
            host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
            for pattern in self.hosts
        )


async def download(client: httpx.AsyncClient, url: str, policy: DownloadPolicy) -> Download:
    """The file at ``url`` as the policy allows it; :class:`DownloadRefused` otherwise.

    ``client`` must not follow redirects itself (this function does, within the host).
    """
    origin = _host(url, policy)
    for _ in range(policy.max_redirects + 1):
        target = httpx.URL(url)
        address = await _checked_address(target.host, target.port or _port(target), policy)
        pinned = target.copy_with(host=address)
        host_header = target.host if target.port is None else f"{target.host}:{target.port}"
        request = client.build_request(
            "GET",
            pinned,
            headers={"Host": host_header},
            extensions={"sni_hostname": target.host},
        )
        response = await client.send(request, stream=True)
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                if httpx.URL(url).host != origin:
                    raise DownloadRefused(
                        f"{target.host} redirects to another host ({httpx.URL(url).host}); "
                        "redirects are followed within the same host only"
                    )
                _host(url, policy)  # the same host, but perhaps another scheme
                continue
            if response.status_code != 200:
                raise DownloadRefused(f"{url} answered {response.status_code}")
            content = await _capped(response, policy.max_bytes)
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
        finally:
            await response.aclose()
        name = target.path.rsplit("/", 1)[-1] or "file"
        guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Download(content, content_type or guessed, name)
    raise DownloadRefused(f"more than {policy.max_redirects} redirects from {origin}")


def _port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _host(url: str, policy: DownloadPolicy) -> str:
    """The URL's host once its scheme, credentials and host pass the policy."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise DownloadRefused(f"{url[:100]!r} is not a URL: {error}") from None
    allowed_schemes = ("https",) if policy.https_only else ("https", "http")
    if parsed.scheme not in allowed_schemes:
        raise DownloadRefused(
            f"{url[:100]!r}: only {' or '.join(allowed_schemes)} URLs are fetched"
        )
    if parsed.userinfo:
        raise DownloadRefused(f"{parsed.host}: URLs carrying credentials are not fetched")
    if not policy.allows(parsed.host):
        raise DownloadRefused(
            f"{parsed.host} is not an allowed host to fetch files from "
            f"(allowed: {', '.join(policy.hosts) or 'none'})"
        )
    return parsed.host


async def _checked_address(host: str, port: int, policy: DownloadPolicy) -> str:
    """An address of ``host``, once every address it has is public (when the policy says so)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise DownloadRefused(f"{host} does not resolve ({error})") from None
    addresses = [str(info[4][0]) for info in found]
    if policy.public_only:
        for address in addresses:
            checked = ipaddress.ip_address(address)
            if isinstance(checked, ipaddress.IPv6Address) and checked.ipv4_mapped is not None:
                checked = checked.ipv4_mapped
            if not checked.is_global or checked.is_multicast:
                raise DownloadRefused(
                    f"{host} resolves to {address}, a private, loopback or reserved address; "
                    "only public addresses are fetched from"
                )
    if not addresses:
        raise DownloadRefused(f"{host} has no address")
    return addresses[0]


async def _capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DownloadRefused(f"the file is {declared} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise DownloadRefused(f"the file is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
