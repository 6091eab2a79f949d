"""Standard message payloads shared by channels and interfaces.

Field names follow the Botpress payload shapes (``imageUrl``, ``fileUrl``, ...) on the wire, so
clients written for that ecosystem send and read them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from patchwire._models import WireModel

__all__ = [
    "PAYLOAD_MODELS",
    "AudioPayload",
    "BlocItem",
    "BlocPayload",
    "CardAction",
    "CardPayload",
    "CarouselPayload",
    "ChoiceOption",
    "ChoicePayload",
    "DropdownPayload",
    "FilePayload",
    "ImagePayload",
    "LocationPayload",
    "MarkdownPayload",
    "MessageHistoryEntry",
    "TextPayload",
    "VideoPayload",
    "as_text",
]


class TextPayload(WireModel):
    text: str = Field(min_length=1)


class MarkdownPayload(WireModel):
    markdown: str = Field(min_length=1)


class ImagePayload(WireModel):
    image_url: str = Field(min_length=1)
    title: str | None = None


class AudioPayload(WireModel):
    audio_url: str = Field(min_length=1)
    title: str | None = None


class VideoPayload(WireModel):
    video_url: str = Field(min_length=1)
    title: str | None = None


class FilePayload(WireModel):
    file_url: str = Field(min_length=1)
    title: str | None = None


class LocationPayload(WireModel):
    latitude: float
    longitude: float
    address: str | None = None
    title: str | None = None


class CardAction(WireModel):
    action: Literal["postback", "url", "say"]
    label: str
    value: str


class CardPayload(WireModel):
    title: str
    subtitle: str | None = None
    image_url: str | None = None
    actions: list[CardAction] = Field(default_factory=list)


class CarouselPayload(WireModel):
    items: list[CardPayload]


class ChoiceOption(WireModel):
    label: str
    value: str


class ChoicePayload(WireModel):
    text: str
    options: list[ChoiceOption]


class DropdownPayload(WireModel):
    text: str
    options: list[ChoiceOption]


class _BlocText(WireModel):
    type: Literal["text"]
    payload: TextPayload


class _BlocMarkdown(WireModel):
    type: Literal["markdown"]
    payload: MarkdownPayload


class _BlocImage(WireModel):
    type: Literal["image"]
    payload: ImagePayload


class _BlocAudio(WireModel):
    type: Literal["audio"]
    payload: AudioPayload


class _BlocVideo(WireModel):
    type: Literal["video"]
    payload: VideoPayload


class _BlocFile(WireModel):
    type: Literal["file"]
    payload: FilePayload


class _BlocLocation(WireModel):
    type: Literal["location"]
    payload: LocationPayload


BlocItem = Annotated[
    Union[  # noqa: UP007 - a discriminated union needs the explicit form here
        _BlocText, _BlocMarkdown, _BlocImage, _BlocAudio, _BlocVideo, _BlocFile, _BlocLocation
    ],
    Field(discriminator="type"),
]


class BlocPayload(WireModel):
    items: list[BlocItem] = Field(min_length=1)


PAYLOAD_MODELS: dict[str, type[WireModel]] = {
    "text": TextPayload,
    "markdown": MarkdownPayload,
    "image": ImagePayload,
    "audio": AudioPayload,
    "video": VideoPayload,
    "file": FilePayload,
    "location": LocationPayload,
    "card": CardPayload,
    "carousel": CarouselPayload,
    "choice": ChoicePayload,
    "dropdown": DropdownPayload,
    "bloc": BlocPayload,
}
"""Every standard message type and the model of its payload."""


class _UserSource(WireModel):
    type: Literal["user"]
    user_id: str


class _BotSource(WireModel):
    type: Literal["bot"]


class MessageHistoryEntry(WireModel):
    """One message of a transcript handed to another system."""

    source: Annotated[Union[_UserSource, _BotSource], Field(discriminator="type")]  # noqa: UP007
    type: Literal[
        "text",
        "markdown",
        "image",
        "audio",
        "video",
        "file",
        "location",
        "card",
        "carousel",
        "choice",
        "dropdown",
        "bloc",
    ]
    payload: dict[str, object]


_URL_KEYS = ("imageUrl", "audioUrl", "videoUrl", "fileUrl")


def as_text(type: str, payload: Mapping[str, Any]) -> str:
    """A message as one line of plain text, for systems that show text only (transcripts)."""
    if type == "bloc":
        return " / ".join(as_text(item["type"], item["payload"]) for item in payload["items"])
    if type == "carousel":
        return " / ".join(as_text("card", card) for card in payload["items"])
    if type in ("choice", "dropdown"):
        labels = " | ".join(str(option["label"]) for option in payload["options"])
        return f"{payload['text']} [{labels}]"
    if type == "card":
        return " - ".join(str(payload[k]) for k in ("title", "subtitle") if payload.get(k))
    if type == "location":
        place = payload.get("address") or f"{payload['latitude']}, {payload['longitude']}"
        return str(place)
    for key in ("text", "markdown", *_URL_KEYS):
        if key in payload:
            return str(payload[key])
    return f"<{type}>"
