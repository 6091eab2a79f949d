"""An in-memory user channel for tests: what the agent sends is kept, per conversation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from patchwire import ChannelDefinition, Integration, IntegrationDefinition
from patchwire.messages import PAYLOAD_MODELS
from patchwire.store import Message

__all__ = ["MemoryChannel"]


class MemoryChannel:
    """The integration ``name`` with channel ``channel``, and its outbox.

    ``types`` limits the message types the channel takes (every standard type by default),
    to stand for a channel that cannot show some of them, such as SMS.
    """

    def __init__(self, name: str = "memory-channel", types: Sequence[str] | None = None) -> None:
        self.outbox: dict[str, list[Message]] = defaultdict(list)
        messages = {t: m for t, m in PAYLOAD_MODELS.items() if types is None or t in types}
        self.integration = Integration(
            IntegrationDefinition(
                name=name,
                version="1.0.0",
                channels={"channel": ChannelDefinition(messages=messages)},
            )
        )

        async def deliver(ctx: Any, message: Message) -> None:
            self.outbox[message.conversation_id].append(message)

        self.integration.sender("channel")(deliver)

    def texts(self, conversation_id: str) -> list[str]:
        return [str(m.payload.get("text", f"<{m.type}>")) for m in self.outbox[conversation_id]]
