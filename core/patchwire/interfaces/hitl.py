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
            description=(
                "Create or find the end user in the helpdesk and in patchwire. Return a "
                "*patchwire* user id: make the user with ctx.get_or_create_user tagged with the "
                "remote user's id, so the same remote user is always the same patchwire user."
            ),
        ),
        "start_hitl": ActionDefinition(
            input=StartHitlInput,
            output=StartHitlOutput,
            description=(
                "Open a helpdesk session carrying the conversation's history. userId is an id "
                "create_user returned. Create a conversation on channel 'hitl' "
                "(ctx.create_conversation tagged with the remote session's id) and return its id: "
                "messages of that conversation are relayed to and from the session."
            ),
        ),
        "stop_hitl": ActionDefinition(
            input=StopHitlInput,
            output=StopHitlOutput,
            description=(
                "Close the helpdesk session. conversationId is the 'hitl' conversation "
                "start_hitl returned; emit no hitl_stopped for a close the plugin asked for."
            ),
        ),
    },
    events={
        "hitl_assigned": EventDefinition(
            payload=HitlAssigned,
            description=(
                "A human agent took the session (again on a reassignment). conversationId is the "
                "'hitl' conversation; userId the agent's *patchwire* user id "
                "(ctx.get_or_create_user tagged with the agent's remote id)."
            ),
        ),
        "hitl_stopped": EventDefinition(
            payload=HitlStopped,
            description="The human agent closed the session; conversationId: the 'hitl' one.",
        ),
    },
    channels={
        "hitl": ChannelDefinition(
            description=(
                "The helpdesk session. Outgoing payloads mix the message's fields with userId "
                "(the patchwire user who wrote it; none: the bot) and additionalData; incoming "
                "messages are the human agent's, received with ctx.receive_message under the "
                "agent's patchwire user id and the provider's message id as dedupe_key."
            ),
            messages={
                "text": HitlText,
                "image": HitlImage,
                "audio": HitlAudio,
                "video": HitlVideo,
                "file": HitlFile,
                "bloc": HitlBloc,
            },
        )
    },
)
