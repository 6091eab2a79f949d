"""``Context.send_event``: custom events from agent code into a conversation's channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from patchwire import (
    Catalog,
    ChannelDefinition,
    Integration,
    IntegrationDefinition,
    define_config,
    resolve,
)
from patchwire.messages import PAYLOAD_MODELS
from patchwire.runtime import MessageError, Runtime
from patchwire.store import Event, Store


def make_integration(delivered: list[tuple[str, Event]]) -> Integration:
    """Two channels: ``live`` takes custom events, ``mail`` does not."""
    integration = Integration(
        IntegrationDefinition(
            name="eventful",
            version="1.0.0",
            channels={
                "live": ChannelDefinition(messages={"text": PAYLOAD_MODELS["text"]}),
                "mail": ChannelDefinition(messages={"text": PAYLOAD_MODELS["text"]}),
            },
        )
    )

    async def send(ctx: Any, message: Any) -> None:
        return None

    async def send_event(ctx: Any, event: Event) -> None:
        delivered.append((ctx.alias, event))

    integration.sender("live")(send)
    integration.sender("mail")(send)
    integration.event_sender("live")(send_event)
    return integration


@pytest.fixture
def delivered() -> list[tuple[str, Event]]:
    return []


@pytest.fixture
async def runtime(database_url: str, delivered: list[tuple[str, Event]]) -> AsyncIterator[Runtime]:
    catalog = Catalog.from_objects(integrations=[make_integration(delivered)])
    config = define_config(name="events-agent", integrations={"site": "eventful@latest"})
    store = await Store.open(database_url)
    running = await Runtime.start(resolve(config, catalog), store=store)
    try:
        yield running
    finally:
        await running.stop()
        await store.close()


async def test_an_event_reaches_the_channels_sender_once_and_is_stored_unqueued(
    runtime: Runtime, delivered: list[tuple[str, Event]]
) -> None:
    site = runtime.context("site")
    conversation = await site.create_conversation(channel="live")
    user = await site.create_user(name="Sam")
    assert await site.takes_events(conversation.id)
    event = await site.send_event(
        conversation_id=conversation.id, payload={"type": "typing", "on": True}, user_id=user.id
    )
    assert delivered == [("site", event)]
    assert event.type == "site.custom" and event.source == "site"
    assert await runtime.store.get_event(event.id) == event
    assert event.conversation_id == conversation.id and event.user_id == user.id
    no_job = await runtime.store.claim_next_job("test", lease=timedelta(seconds=5))
    assert no_job is None, "an agent does not receive the events it sends"


async def test_a_channel_without_an_event_sender_refuses_events(
    runtime: Runtime, delivered: list[tuple[str, Event]]
) -> None:
    site = runtime.context("site")
    conversation = await site.create_conversation(channel="mail")
    assert not await site.takes_events(conversation.id)
    with pytest.raises(MessageError, match=r"site\.mail takes no custom events"):
        await site.send_event(conversation_id=conversation.id, payload={"x": 1})
    assert delivered == []


async def test_a_payload_that_is_not_json_is_refused_before_anything_is_stored(
    runtime: Runtime, delivered: list[tuple[str, Event]]
) -> None:
    site = runtime.context("site")
    conversation = await site.create_conversation(channel="live")
    with pytest.raises(MessageError, match="must be a JSON object"):
        await site.send_event(conversation_id=conversation.id, payload={"when": object()})
    assert delivered == []


def test_an_event_sender_for_an_undeclared_channel_is_a_definition_error() -> None:
    from patchwire import DefinitionError

    integration = make_integration([])
    with pytest.raises(DefinitionError, match="declares no channel 'sms'"):
        integration.event_sender("sms")(integration.event_senders["live"])
