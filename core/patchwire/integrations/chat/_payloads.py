"""Translation between the Chat API's flat payloads and patchwire's standard message models.

On the wire a payload carries its type inline (``{"type": "text", "text": "hi"}``) and bloc
items are flat too; inside patchwire the type sits beside a typed payload model. Validation goes
through ``patchwire.messages`` so both channels accept exactly what the runtime accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from patchwire._errors import format_validation_error
from patchwire.integrations.chat._errors import invalid_payload
from patchwire.messages import PAYLOAD_MODELS

__all__ = ["payload_from_wire", "payload_to_wire"]

_TYPES = ", ".join(sorted(PAYLOAD_MODELS))


def payload_from_wire(payload: object) -> tuple[str, BaseModel]:
    """The message type and validated payload model of a request's ``payload``."""
    if not isinstance(payload, Mapping):
        raise invalid_payload('payload must be an object such as {"type": "text", "text": "hi"}')
    fields = dict(payload)
    message_type = fields.pop("type", None)
    if message_type not in PAYLOAD_MODELS:
        raise invalid_payload(f"payload.type is {message_type!r}; use one of: {_TYPES}")
    if message_type == "bloc" and isinstance(fields.get("items"), list):
        fields["items"] = [_bloc_item_from_wire(item) for item in fields["items"]]
    try:
        return message_type, PAYLOAD_MODELS[message_type].model_validate(fields)
    except ValidationError as error:
        raise invalid_payload(
            f"payload of type {message_type!r} is invalid: {format_validation_error(error)} "
            "(custom data belongs in the message's metadata, not in its payload)"
        ) from None


def payload_to_wire(message_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The flat wire form of a stored payload (either key spelling is accepted)."""
    model = PAYLOAD_MODELS[message_type].model_validate(dict(payload))
    fields: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    if message_type == "bloc":
        fields["items"] = [{"type": item["type"], **item["payload"]} for item in fields["items"]]
    return {"type": message_type, **fields}


def _bloc_item_from_wire(item: object) -> object:
    if not isinstance(item, Mapping) or "payload" in item:
        return item
    fields = dict(item)
    return {"type": fields.pop("type", None), "payload": fields}
