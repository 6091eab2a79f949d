"""``emit_event`` against the declared events: a typo in a name or a key is an error, not an
event that is stored and that nothing ever reacts to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from patchwire import (
    Catalog,
    Context,
    NoConfiguration,
    Plugin,
    PluginDefinition,
    define_config,
    resolve,
)
from patchwire.runtime import AgentCode, EventError, Runtime
from patchwire.store import Store
from patchwire.store._tables import EventRow
from patchwire.testing.memory import MemoryHelpdesk


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    catalog = Catalog.from_objects(
        integrations=[MemoryHelpdesk().integration],
        plugins=[Plugin(PluginDefinition(name="quiet", version="1.0.0"))],
    )
    config = define_config(
        name="emitter",
        integrations={"desk": "memory-helpdesk@latest"},
        plugins={"quiet": {"version": "quiet@latest"}},
    )
    store = await Store.open(database_url)
    running = await Runtime.start(
        resolve(config, catalog), store=store, code=AgentCode(path=None, conversations=())
    )
    yield running
    await running.stop()
    await store.close()


async def stored_events(runtime: Runtime) -> int:
    async with runtime.store.engine.connect() as session:
        return int(await session.scalar(select(func.count()).select_from(EventRow)) or 0)


async def test_a_misspelt_event_is_refused_with_the_name_it_meant(runtime: Runtime) -> None:
    ctx = runtime.context("desk", "integration")
    with pytest.raises(EventError) as raised:
        await ctx.emit_event("hitl_asigned", {"conversationId": "c", "userId": "u"})
    assert str(raised.value) == (
        "integration 'desk' emits event 'hitl_asigned', which its definition does not declare "
        "(did you mean 'hitl_assigned'?); declared: hitl_assigned, hitl_stopped"
    )
    assert await stored_events(runtime) == 0


async def test_a_misspelt_payload_key_is_refused_naming_the_field(runtime: Runtime) -> None:
    ctx = runtime.context("desk", "integration")
    with pytest.raises(EventError) as raised:
        await ctx.emit_event("hitl_assigned", {"conversationID": "c", "userId": "u"})
    assert str(raised.value) == (
        "bad payload of event 'hitl_assigned' from integration 'desk': "
        "conversationId: Field required; conversationID: Extra inputs are not permitted"
    )
    event = await ctx.emit_event("hitl_assigned", {"conversationId": "c", "userId": "u"})
    assert event is not None and event.type == "desk.hitl_assigned"
    assert event.payload == {"conversationId": "c", "userId": "u"}
    assert await stored_events(runtime) == 1


async def test_a_plugin_declaring_no_events_emits_none(runtime: Runtime) -> None:
    with pytest.raises(EventError, match=r"does not declare; declared: none$"):
        await runtime.context("quiet", "plugin").emit_event("hello", {})
    assert await stored_events(runtime) == 0


async def test_agent_code_names_its_own_events(runtime: Runtime) -> None:
    agent = Context(runtime, alias="agent", kind="agent", configuration=NoConfiguration())
    assert await agent.emit_event("noted", {"anything": 1}) is not None
    assert await stored_events(runtime) == 1
