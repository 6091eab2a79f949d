"""The ``hitl`` interface (2.1.0): what a helpdesk must offer for a human to take over a chat.

An implementer maps the ``hitlSession`` entity to its own (Zendesk ``hitlTicket``, Intercom
``hitlConversation``), whose fields agent code may then pass to ``start_hitl``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchwire._definitions import (
    ActionDefinition,
    ChannelDefinition,
    EntityDefinition,
    EntityRef,
    EventDefinition,
    InterfaceDefinition,
)
from patchwire._models import WireModel
from patchwire.messages import (
    AudioPayload,
    BlocPayload,
    FilePayload,
    ImagePayload,
    MessageHistoryEntry,
    TextPayload,
    VideoPayload,
)

__all__ = [
    "CreateUserInput",
    "CreateUserOutput",
    "HitlAssigned",
    "HitlSession",
    "HitlStopped",
    "StartHitlInput",
    "StartHitlOutput",
    "StopHitlInput",
    "StopHitlOutput",
    "definition",
]


class HitlSession(WireModel):
    """The interface's placeholder entity: implementers substitute their own."""

    model_config = WireModel.model_config | {"extra": "allow"}


class CreateUserInput(WireModel):
    name: str = Field(min_length=1)
    picture_url: str | None = None
    email: str | None = None


class CreateUserOutput(WireModel):
    user_id: str


class StartHitlInput(WireModel):
    user_id: str = Field(min_length=1)
    title: str | None = None
    description: str | None = None
    hitl_session: Annotated[dict[str, Any] | None, EntityRef("hitlSession")] = None
    message_history: list[MessageHistoryEntry]


class StartHitlOutput(WireModel):
    conversation_id: str


class StopHitlInput(WireModel):
    conversation_id: str = Field(min_length=1)


class StopHitlOutput(WireModel):
    pass


class HitlAssigned(WireModel):
    conversation_id: str
    user_id: str


class HitlStopped(WireModel):
    conversation_id: str


class _HitlMessageFields(WireModel):
    user_id: str | None = None
    additional_data: str | None = Field(default=None, max_length=500)


class HitlText(TextPayload, _HitlMessageFields):
    pass


class HitlImage(ImagePayload, _HitlMessageFields):
    pass


class HitlAudio(AudioPayload, _HitlMessageFields):
    pass


class HitlVideo(VideoPayload, _HitlMessageFields):
    pass


class HitlFile(FilePayload, _HitlMessageFields):
    pass


class HitlBloc(BlocPayload, _HitlMessageFields):
    pass


definition = InterfaceDefinition(
    name="hitl",
    version="2.1.0",
    title="Human in the loop",
    description="Hand a conversation to a human agent in an outside helpdesk, and back.",
    entities={"hitlSession": EntityDefinition(model=HitlSession, title="HITL session")},
    actions={
        "create_user": ActionDefinition(
            input=CreateUserInput,
            output=CreateUserOutput,
            description="Create or find the end user in the helpdesk and in patchwire.",
        ),
        "start_hitl": ActionDefinition(
            input=StartHitlInput,
            output=StartHitlOutput,
            description="Open a helpdesk session carrying the conversation's history.",
        ),
        "stop_hitl": ActionDefinition(
            input=StopHitlInput,
            output=StopHitlOutput,
            description="Close the helpdesk session.",
        ),
    },
    events={
        "hitl_assigned": EventDefinition(payload=HitlAssigned),
        "hitl_stopped": EventDefinition(payload=HitlStopped),
    },
    channels={
        "hitl": ChannelDefinition(
            messages={
                "text": HitlText,
                "image": HitlImage,
                "audio": HitlAudio,
                "video": HitlVideo,
                "file": HitlFile,
                "bloc": HitlBloc,
            }
        )
    },
)
