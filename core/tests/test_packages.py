from __future__ import annotations

from typing import Any

import pytest

from patchwire import (
    DefinitionError,
    EntityDefinition,
    Integration,
    IntegrationDefinition,
    implements,
)
from patchwire.interfaces.hitl import HitlSession
from patchwire.interfaces.hitl import definition as hitl


def desk() -> Integration:
    return Integration(
        IntegrationDefinition(
            name="desk",
            version="1.0.0",
            entities={"ticket": EntityDefinition(model=HitlSession)},
            implements=[implements(hitl, entities={"hitlSession": "ticket"})],
        )
    )


def test_one_sender_serves_every_message_type_of_a_channel() -> None:
    integration = desk()

    @integration.sender("hitl")
    async def send(ctx: Any, message: Any) -> None: ...

    declared = set(hitl.channels["hitl"].messages)
    assert {key for key in integration.message_senders} == {("hitl", t) for t in declared}
    assert not [p for p in integration.problems() if "sender" in p]


def test_a_sender_for_an_undeclared_channel_is_refused() -> None:
    with pytest.raises(DefinitionError, match="declares no channel 'chat' \\(channels: hitl\\)"):
        desk().sender("chat")(lambda ctx, message: None)  # type: ignore[arg-type,return-value]
