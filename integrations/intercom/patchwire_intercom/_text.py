"""Turning message bodies between patchwire payloads and Intercom's parts and notes.

Webhooks from version 2.15 on carry plain text, but the REST API and older webhook versions
carry HTML; inbound bodies are read either way. Outbound user replies are plain text (what a
contact types); notes are HTML, escaped, one paragraph a line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

__all__ = [
    "MAX_ATTACHMENTS",
    "Outbound",
    "html_to_text",
    "inbound_message",
    "note_html",
    "outbound",
]

MAX_ATTACHMENTS = 10
"""Intercom takes at most ten attachment URLs per part."""

_LOOKS_LIKE_HTML = re.compile(
    r"</?(p|br|div|a|b|i|u|s|strong|em|ul|ol|li|span|h[1-6]|img|code|pre|blockquote)\b[^>]*>",
    re.IGNORECASE,
)
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
_URL_KEYS = {"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._anchor = []
        if tag == "img":
            source = dict(attrs).get("src")
            if source:
                self.parts.append(source)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            if self._href and self._href not in "".join(self._anchor):
                self.parts.append(f" ({self._href})")
            self._href = None

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self._href is not None:
            self._anchor.append(data)


def html_to_text(body: str | None) -> str:
    """Plain text of a part's body, whether Intercom sent HTML or text."""
    if not body:
        return ""
    if not _LOOKS_LIKE_HTML.search(body):
        return body.strip()
    extractor = _TextExtractor()
    extractor.feed(body)
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def note_html(text: str) -> str:
    """A note body: each line its own escaped paragraph (notes render HTML)."""
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() or [""])


@dataclass
class Outbound:
    """One Intercom part: text, and the URLs Intercom should attach."""

    body: str
    attachment_urls: list[str] = field(default_factory=list)


def _is_web_url(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def _lines(type: str, payload: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
    """``(text line, URL to attach or None)`` for one message or bloc item."""
    if type == "bloc":
        for item in payload.get("items", []):
            yield from _lines(str(item["type"]), item["payload"])
        return
    if type in ("text", "markdown"):
        yield str(payload.get(type, "")), None
        return
    key = _URL_KEYS.get(type)
    if key is None:
        if type == "location":
            place = payload.get("address") or f"{payload['latitude']}, {payload['longitude']}"
            yield f"Location: {place}", None
        return
    url = str(payload[key])
    title = payload.get("title")
    text = f"{title}: {url}" if title else url
    attach = url if type in ("image", "file") and _is_web_url(url) else None
    yield text, attach


def outbound(type: str, payload: Mapping[str, Any]) -> Outbound:
    """The part a relayed message becomes: one part, even for a bloc.

    Images and files go as attachment URLs and their link stays in the text, so the agent
    has it even where Intercom does not preview the attachment (audio and video: link only).
    """
    texts: list[str] = []
    urls: list[str] = []
    for text, url in _lines(type, payload):
        if text:
            texts.append(text)
        if url and len(urls) < MAX_ATTACHMENTS:
            urls.append(url)
    return Outbound(body="\n".join(texts), attachment_urls=urls)


def _attachment_item(attachment: Mapping[str, Any]) -> dict[str, Any] | None:
    url = attachment.get("url")
    if not isinstance(url, str) or not url:
        return None
    name = attachment.get("name")
    kind = "image" if str(attachment.get("content_type", "")).startswith("image/") else "file"
    payload: dict[str, Any] = {_URL_KEYS[kind]: url}
    if isinstance(name, str) and name:
        payload["title"] = name
    return {"type": kind, "payload": payload}


def inbound_message(
    body: str | None, attachments: Iterable[Mapping[str, Any]]
) -> tuple[str, dict[str, Any]] | None:
    """``(type, payload)`` for an agent's part: text, image or file, or a bloc of several."""
    items: list[dict[str, Any]] = []
    text = html_to_text(body)
    if text:
        items.append({"type": "text", "payload": {"text": text}})
    items += [item for item in map(_attachment_item, attachments) if item is not None]
    if not items:
        return None
    if len(items) == 1:
        return str(items[0]["type"]), dict(items[0]["payload"])
    return "bloc", {"items": items}
