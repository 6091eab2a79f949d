"""Plain-text renderings: the transcript of the first comment, and each relayed message.

Zendesk shows comment bodies as text (with light Markdown), so every message type gets a
readable form here; media keep their URL so an agent can open what was not uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SEPARATOR", "render", "transcript"]

SEPARATOR = "\n\n---\n\n"

_MEDIA = {"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}
_LABELS = {"image": "Image", "audio": "Audio", "video": "Video", "file": "File"}


def _media(type: str, payload: Mapping[str, Any]) -> str:
    url = str(payload[_MEDIA[type]])
    title = payload.get("title")
    return f"[{_LABELS[type]}: {title}] {url}" if title else f"[{_LABELS[type]}] {url}"


def _location(payload: Mapping[str, Any]) -> str:
    lines = ["[Location]"]
    lines += [str(payload[k]) for k in ("title", "address") if payload.get(k)]
    lines.append(f"{payload.get('latitude')}, {payload.get('longitude')}")
    return "\n".join(lines)


def _card(payload: Mapping[str, Any]) -> str:
    lines = [f"[Card] {payload.get('title', '')}".rstrip()]
    if payload.get("subtitle"):
        lines.append(str(payload["subtitle"]))
    if payload.get("imageUrl"):
        lines.append(f"Image: {payload['imageUrl']}")
    for action in payload.get("actions") or []:
        lines.append(f"  * {action.get('label')} ({action.get('action')}: {action.get('value')})")
    return "\n".join(lines)


def _options(kind: str, payload: Mapping[str, Any]) -> str:
    lines = [str(payload.get("text", "")), f"[{kind} options]"]
    lines += [f"  * {o.get('label')} ({o.get('value')})" for o in payload.get("options") or []]
    return "\n".join(line for line in lines if line)


def render(type: str, payload: Mapping[str, Any]) -> str:
    """One message as readable text, for every standard type (unknown ones name their type)."""
    if type == "text":
        return str(payload.get("text", ""))
    if type == "markdown":
        return str(payload.get("markdown", ""))
    if type in _MEDIA and _MEDIA[type] in payload:
        return _media(type, payload)
    if type == "location":
        return _location(payload)
    if type == "card":
        return _card(payload)
    if type == "carousel":
        return "\n\n".join(_card(card) for card in payload.get("items") or [])
    if type in ("choice", "dropdown"):
        return _options("Choice" if type == "choice" else "Dropdown", payload)
    if type == "bloc":
        return "\n\n".join(
            render(str(item.get("type")), item.get("payload") or {})
            for item in payload.get("items") or []
        )
    return f"[{type} message]"


def transcript(entries: Sequence[tuple[str, str, Mapping[str, Any]]], *, bot_name: str) -> str:
    """``(author name or "" for the bot, type, payload)`` entries as one block of text."""
    blocks = []
    for author, type, payload in entries:
        header = f"Bot ({bot_name}):" if not author else f"{author}:"
        blocks.append(f"{header}\n{render(type, payload)}")
    return SEPARATOR.join(blocks)
