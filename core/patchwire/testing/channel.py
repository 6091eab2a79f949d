"""An in-memory user channel for tests: what the agent sends is kept, per conversation."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from patchwire import ChannelDefinition, Integration, IntegrationDefinition
from patchwire.messages import PAYLOAD_MODELS
from patchwire.store import Message

__all__ = ["MemoryChannel"]


class MemoryChannel:
    """The integration ``memory-channel`` with channel ``channel``, and its outbox."""

    def __init__(self) -> None:
        self.outbox: dict[str, list[Message]] = defaultdict(list)
        self.integration = Integration(
            IntegrationDefinition(
                name="memory-channel",
                version="1.0.0",
                channels={"channel": ChannelDefinition(messages=dict(PAYLOAD_MODELS))},
            )
        )

        async def deliver(ctx: Any, message: Message) -> None:
            self.outbox[message.conversation_id].append(message)

        self.integration.sender("channel")(deliver)

    def texts(self, conversation_id: str) -> list[str]:
        return [str(m.payload.get("text", f"<{m.type}>")) for m in self.outbox[conversation_id]]
