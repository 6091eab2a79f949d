"""Request bodies of the Chat API operations, and reading them within the size limit."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from starlette.requests import Request

from patchwire._errors import format_validation_error
from patchwire._models import WireModel
from patchwire.integrations.chat._errors import invalid_payload

__all__ = [
    "CHAT_ID_PATTERN",
    "AddParticipantBody",
    "CreateConversationBody",
    "CreateEventBody",
    "CreateMessageBody",
    "CreateUserBody",
    "GetOrCreateConversationBody",
    "UserFieldsBody",
    "check_chat_id",
    "read_body",
]

_Body = TypeVar("_Body", bound=BaseModel)

CHAT_ID_PATTERN = r"[A-Za-z0-9._~-]{1,100}"
"""Caller-chosen ids appear unescaped in URL paths: 1-100 of RFC 3986's unreserved characters."""

_ID_RULE = "use 1-100 characters among letters, digits, '-', '.', '_' and '~'"


def _valid_id(value: str) -> str:
    if re.fullmatch(CHAT_ID_PATTERN, value) is None:
        raise ValueError(f"{value[:120]!r} is not a valid id: {_ID_RULE}")
    return value


ChatId = Annotated[str, AfterValidator(_valid_id)]


def check_chat_id(value: str, what: str) -> str:
    """``value`` when it is a valid chat id, else an ``InvalidPayload`` error naming ``what``."""
    try:
        return _valid_id(value)
    except ValueError as error:
        raise invalid_payload(f"{what}: {error}") from None


class UserFieldsBody(WireModel):
    name: str | None = Field(default=None, max_length=200)
    picture_url: str | None = Field(default=None, max_length=2000)
    profile: str | None = Field(default=None, max_length=2000)


class CreateUserBody(UserFieldsBody):
    id: ChatId | None = None


class CreateConversationBody(WireModel):
    id: ChatId | None = None


class GetOrCreateConversationBody(WireModel):
    id: ChatId


class AddParticipantBody(WireModel):
    user_id: ChatId


class CreateMessageBody(WireModel):
    payload: Any
    conversation_id: ChatId
    metadata: dict[str, Any] | None = None


class CreateEventBody(WireModel):
    payload: dict[str, Any]
    conversation_id: ChatId


async def read_body(request: Request, model: type[_Body], limit: int) -> _Body:
    """The validated JSON body; a clear ``InvalidPayload`` error for anything else."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(len(raw), limit)
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise invalid_payload(f"the request body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise invalid_payload("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_payload(f"invalid request body: {format_validation_error(error)}") from None


def _too_large(size: int, limit: int) -> Exception:
    return invalid_payload(
        f"the request body is at least {size} bytes, over the limit of {limit} "
        "(raise maxRequestBytes in this integration's config if that is intended)"
    )
