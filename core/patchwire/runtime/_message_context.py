"""What agent handlers receive: the message or event, and the host API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from patchwire._definitions import NoConfiguration
from patchwire.runtime._context import Context
from patchwire.runtime._responder import Role
from patchwire.store import Conversation, Event, Message, User

if TYPE_CHECKING:
    from patchwire.runtime._runtime import Runtime

__all__ = ["HUMAN_AGENT_METADATA", "EventContext", "MessageContext"]

HUMAN_AGENT_METADATA = "humanAgent"
"""Metadata key of an outgoing message written by a human agent: ``{id, name, shownToModel}``."""


class MessageContext(Context[NoConfiguration]):
    """``ctx`` of a ``Conversation`` handler."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        message: Message,
        conversation: Conversation,
        user: User | None,
    ) -> None:
        super().__init__(runtime, alias="agent", kind="agent", configuration=NoConfiguration())
        self.message = message
        self.conversation = conversation
        self.user = user

    @property
    def text(self) -> str:
        """The message's text ('' for a message without text)."""
        value = self.message.payload.get("text", "")
        return value if isinstance(value, str) else ""

    async def reply(
        self,
        text: str | None = None,
        *,
        type: str = "text",
        payload: BaseModel | Mapping[str, Any] | None = None,
    ) -> Message | None:
        """Answer in this conversation: ``reply("hi")`` or ``reply(type="image", payload=...)``."""
        if (text is None) == (payload is None):
            raise ValueError("give either text or payload")
        body = {"text": text} if text is not None else payload or {}
        return await self._send(self.conversation, type, body)

    async def execute(self, *, instructions: str, history: int = 20) -> Message | None:
        """Let the agent's model answer the conversation, and send its answer.

        The model sees the last ``history`` text messages: the user's as ``user`` turns, the
        agent's own as ``assistant`` turns. A message a human agent wrote (metadata
        ``humanAgent``, set by the HITL plugin) is never presented as the model's own: it is
        a ``system`` note naming the human agent, or left out when its ``shownToModel`` is
        false.
        """
        page = await self.list_messages(self.conversation.id, limit=history)
        transcript = [
            turn
            for item in reversed(page.messages)
            if "text" in item.payload and (turn := _turn(item)) is not None
        ]
        answer = await self._runtime.responder.answer(instructions, transcript)
        return await self.reply(answer)


def _turn(message: Message) -> tuple[Role, str] | None:
    """The transcript turn (role, text) of a message; None for one hidden from the model."""
    text = str(message.payload["text"])
    if message.direction == "incoming":
        return ("user", text)
    human = (message.metadata or {}).get(HUMAN_AGENT_METADATA)
    if not isinstance(human, Mapping):
        return ("assistant", text)
    if human.get("shownToModel", True) is False:
        return None
    name = human.get("name")
    who = f"The human agent {name}" if name else "A human agent"
    return ("system", f"{who} (not you) wrote to the user: {text}")


class EventContext(Context[NoConfiguration]):
    """``ctx`` of a ``Conversation`` event handler."""

    def __init__(self, runtime: Runtime, *, event: Event, conversation: Conversation) -> None:
        super().__init__(runtime, alias="agent", kind="agent", configuration=NoConfiguration())
        self.event = event
        self.conversation = conversation
