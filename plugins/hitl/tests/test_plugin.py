from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from patchwire import ActionInputError
from patchwire.runtime import EventContext
from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.memory import MemoryHelpdesk
from patchwire_hitl import HitlStartError, Session

Start = Callable[..., Awaitable[HitlHarness]]

CANCELLED = "( The user has ended the session. )"
JOINED = "A human agent has joined the conversation."
TIMEOUT = (
    "No human agent is available at the moment. Please try again later. "
    "I will continue assisting you for the time being."
)


async def session_of(harness: HitlHarness, user: str = "u1") -> Session:
    conversation, _ = await harness.user_conversation(user)
    stored = await harness.runtime.context("hitl").get_state(
        "conversation", conversation.id, "session"
    )
    return Session.model_validate(stored)


async def test_null_handoff_message_sends_nothing(harness_with: Start) -> None:
    harness = await harness_with(onHitlHandoffMessage="NULL")
    await harness.say("/starthitl")
    assert await harness.user_sees() == []


async def test_an_empty_override_means_the_built_in_text(harness_with: Start) -> None:
    harness = await harness_with(onHitlHandoffMessage="Our global text")
    await harness.start(on_hitl_handoff_message="")
    assert (await harness.user_sees())[0].startswith("I have escalated this conversation")


async def test_the_configuration_snapshot_survives_a_config_change(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(onHitlStoppedMessage="Snapshot text")
    await harness.say("/starthitl")
    ctx = harness.runtime.context("hitl")
    # What a restart with an edited agent.toml gives the plugin (the context's is read-only).
    ctx._configuration = ctx.configuration.model_copy(
        update={"on_hitl_stopped_message": "Changed text"}
    )
    [remote] = await helpdesk.opened()
    await helpdesk.close(remote)
    await harness.settle()
    assert (await harness.user_sees())[-1] == "Snapshot text"


async def test_null_close_command_turns_it_off(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(userHitlCloseCommand="NULL")
    await harness.say("/starthitl")
    await harness.say("null")
    await harness.say("/end")
    [remote] = await helpdesk.opened()
    assert (await helpdesk.received(remote))[-2:] == ["null", "/end"]
    assert (await session_of(harness)).active


async def test_unsupported_user_types_are_refused_with_the_fixed_text(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    await harness.say("/starthitl")
    await harness.say(
        "", type="choice", payload={"text": "pick", "options": [{"label": "a", "value": "a"}]}
    )
    assert (await harness.user_sees())[-1] == (
        "Sorry, I can only handle one of the following message types: "
        "text, image, video, audio, file, bloc"
    )
    [remote] = await helpdesk.opened()
    assert not any("pick" in text for text in await helpdesk.received(remote))


async def test_implicit_assignment_counts_agents_only_and_a_new_agent_is_a_transfer(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    requester = await helpdesk.ctx.get_or_create_user(tags={"email": "u@example.com"}, name="User")
    conversation_id = (await session_of(harness)).downstream_id
    assert conversation_id is not None
    await helpdesk.ctx.receive_message(
        conversation_id=conversation_id,
        user_id=requester.id,
        type="text",
        payload={"text": "reply by email"},
        dedupe_key="e1",
    )
    await harness.settle()
    assert JOINED not in await harness.user_sees()
    await helpdesk.reply(remote, "text", {"text": "one"}, message_id="a1")
    await helpdesk.reply(remote, "text", {"text": "two"}, message_id="a2")
    await helpdesk.assign(remote, "Alice")
    await harness.settle()
    assert (await harness.user_sees()).count(JOINED) == 1
    await helpdesk.assign(remote, "Bob")
    await harness.settle()
    seen = await harness.user_sees()
    assert seen.count(JOINED) == 1
    assert seen.count("Your conversation has been transferred to Bob.") == 1
    assert (await session_of(harness)).assigned_agent_name == "Bob"


async def test_agent_messages_keep_their_order_under_concurrent_deliveries(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    await asyncio.gather(
        *(helpdesk.reply(remote, "text", {"text": f"m{n}"}, message_id=f"m{n}") for n in range(15))
    )
    await harness.settle()
    conversation_id = (await session_of(harness)).downstream_id
    assert conversation_id is not None
    stored = await harness.runtime.context("desk").list_messages(
        conversation_id, limit=50, newest_first=False
    )
    relayed = [t for t in await harness.user_sees() if t.startswith("m")]
    assert relayed == [m.payload["text"] for m in stored.messages]


async def test_the_agent_is_shown_as_himself_unless_configured_otherwise(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    await helpdesk.reply(remote, "text", {"text": "hi", "additionalData": "x-42"}, message_id="a1")
    await harness.settle()
    conversation, _ = await harness.user_conversation()
    [sent] = [m for m in harness.channel.outbox[conversation.id] if m.payload.get("text") == "hi"]
    agent = await harness.runtime.store.get_user(sent.user_id or "")
    assert agent is not None and agent.name == "Alice"
    assert sent.tags["hitl.additionalData"] == "x-42"
    assert "additionalData" not in sent.payload


async def test_stop_action_tells_only_the_agent(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    continued: list[str] = []

    async def on_event(ctx: EventContext) -> None:
        continued.append(ctx.event.type)

    harness.runtime.code.conversations[0].on_event = on_event
    await harness.say("/starthitl")
    conversation, _ = await harness.user_conversation()
    before = await harness.user_sees()
    await harness.runtime.plugins.hitl.actions.stop_hitl(conversation_id=conversation.id)
    await harness.settle()
    [remote] = await helpdesk.opened()
    assert (await helpdesk.received(remote))[-1] == CANCELLED
    assert remote in helpdesk.closed
    assert await harness.user_sees() == before
    session = await session_of(harness)
    assert (session.active, session.end_reason) == (False, "close-action-called")
    assert session.ended_at is not None
    assert "hitl.continue_workflow" not in continued and "hitl.hitl_stopped" in continued


async def test_lifecycle_events_reach_agent_code(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    seen: list[tuple[str, Any]] = []

    async def on_event(ctx: EventContext) -> None:
        seen.append((ctx.event.type, ctx.event.payload.get("reason")))

    harness.runtime.code.conversations[0].on_event = on_event
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    await helpdesk.assign(remote, "Alice")
    await harness.settle()
    await harness.say("/end")
    assert seen == [
        ("hitl.hitl_started", None),
        ("hitl.hitl_assigned", None),
        ("hitl.hitl_stopped", "patient-used-termination-command"),
        ("hitl.continue_workflow", None),
    ]


async def test_a_start_failure_leaves_nothing_active(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    helpdesk.go_down()
    conversation, user_id = await harness.user_conversation()
    with pytest.raises(
        HitlStartError, match="start_hitl failed while linking the user: OutsideSystemDown"
    ):
        await harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=conversation.id, user_id=user_id
        )
    session = await session_of(harness)
    assert (session.active, session.end_reason) == (False, "start-failed")
    helpdesk.come_back()
    await harness.say("/starthitl")
    assert (await session_of(harness)).active


async def test_a_start_after_an_ended_session_needs_no_new_message(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    first = await harness.start()
    [remote] = await helpdesk.opened()
    await helpdesk.close(remote)
    await harness.settle()
    second = await harness.start()
    assert first != second and len(await helpdesk.opened()) == 2


async def test_a_second_start_while_active_returns_the_same_session(harness_with: Start) -> None:
    harness = await harness_with()
    assert await harness.start() == await harness.start()


async def test_extra_start_keys_are_rejected(harness_with: Start) -> None:
    harness = await harness_with()
    conversation, user_id = await harness.user_conversation()
    with pytest.raises(ActionInputError, match="colour: Extra inputs are not permitted"):
        await harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=conversation.id, user_id=user_id, colour="red"
        )


async def test_the_entity_is_validated_against_the_bound_integration(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    conversation, user_id = await harness.user_conversation()
    with pytest.raises(ActionInputError, match=r"hitl_session\.colour: Extra inputs"):
        await harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help",
            conversation_id=conversation.id,
            user_id=user_id,
            hitl_session={"colour": "red"},
        )
    await harness.runtime.plugins.hitl.actions.start_hitl(
        title="Help",
        conversation_id=conversation.id,
        user_id=user_id,
        hitl_session={"priority": "urgent"},
    )
    [remote] = await helpdesk.opened()
    ticket = helpdesk.tickets[remote]
    assert ticket is not None and ticket.priority == "urgent"


async def test_history_is_bounded(harness_with: Start, helpdesk: MemoryHelpdesk) -> None:
    harness = await harness_with(historyLimit=3)
    for n in range(4):
        await harness.say(f"old {n}")
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    assert len(await helpdesk.received(remote)) == 3


async def test_the_timeout_fires_once_even_across_a_restart(
    helpdesk: MemoryHelpdesk, tmp_path: Path
) -> None:
    harness = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0.5)
    await harness.say("/starthitl")
    await harness.runtime.stop()
    await harness.runtime.store.close()
    await asyncio.sleep(0.7)
    restarted = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0.5)
    try:
        await restarted.settle()
        await restarted.settle()
        assert await restarted.user_sees() == [TIMEOUT]
        [remote] = await helpdesk.opened()
        assert (await helpdesk.received(remote))[-1] == CANCELLED
        assert remote in helpdesk.closed
        session = await session_of(restarted)
        assert session.end_reason == "agent-assignment-timeout"
        conversation, _ = await restarted.user_conversation()
        sent = await restarted.runtime.context("user").list_messages(conversation.id, limit=50)
        assert [m.payload.get("text") for m in sent.messages].count(TIMEOUT) == 1
    finally:
        await restarted.runtime.stop()
        await restarted.runtime.store.close()


async def test_no_timeout_after_assignment_and_it_works_in_a_second_session(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with(agentAssignedTimeoutSeconds=0.3)
    await harness.say("/starthitl")
    [first] = await helpdesk.opened()
    await helpdesk.assign(first, "Alice")
    await harness.settle()
    await asyncio.sleep(0.5)
    await harness.settle()
    assert TIMEOUT not in await harness.user_sees()
    await helpdesk.close(first)
    await harness.settle()
    await harness.say("/starthitl")
    await asyncio.sleep(0.5)
    await harness.settle()
    await harness.settle()
    assert (await harness.user_sees()).count(TIMEOUT) == 1


async def test_a_missing_link_closes_both_sides_and_tells_both(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    harness = await harness_with()
    await harness.say("/starthitl")
    session = await session_of(harness)
    await harness.runtime.context("hitl").set_state(
        "conversation",
        session.upstream_id,
        "session",
        session.model_copy(update={"downstream_id": None}).model_dump(mode="json"),
    )
    await harness.say("are you there?")
    abort = "Something went wrong, you are not connected to a human agent..."
    assert (await harness.user_sees())[-1] == abort
    assert (await session_of(harness)).end_reason == "internal-error"


async def test_two_aliases_bound_to_two_helpdesks_keep_separate_sessions(tmp_path: Path) -> None:
    from patchwire import Catalog, define_config, installed, resolve
    from patchwire.runtime import AgentCode, Conversation, Runtime
    from patchwire.store import Store
    from patchwire.testing.channel import MemoryChannel

    support, sales = MemoryHelpdesk("support-desk", "hitlTicket"), MemoryHelpdesk("sales-desk")
    channel = MemoryChannel()
    config = define_config(
        name="two-desks",
        integrations={
            "user": "memory-channel@latest",
            "zd": "support-desk@latest",
            "ic": "sales-desk@latest",
        },
        plugins={
            "support": {
                "version": "hitl@latest",
                "config": {"onHitlHandoffMessage": "support!"},
                "dependencies": {"hitl": {"integrationAlias": "zd"}},
            },
            "sales": {
                "version": "hitl@latest",
                "config": {"onHitlHandoffMessage": "sales!"},
                "dependencies": {"hitl": {"integrationAlias": "ic"}},
            },
        },
    )
    catalog = Catalog.from_objects(
        interfaces=[installed().load("interface", "hitl")],  # type: ignore[list-item]
        integrations=[channel.integration, support.integration, sales.integration],
        plugins=[installed().load("plugin", "hitl")],  # type: ignore[list-item]
    )
    store = await Store.open(f"sqlite:///{tmp_path / 'two.db'}")
    runtime = await Runtime.start(
        resolve(config, catalog),
        store=store,
        code=AgentCode(
            None, (Conversation(channel="user.channel", handler=lambda ctx: asyncio.sleep(0)),)
        ),
    )
    try:
        user_ctx = runtime.context("user")
        for who in ("ann", "bob"):
            user = await user_ctx.get_or_create_user(tags={"id": who}, name=who)
            conversation = await user_ctx.get_or_create_conversation(
                channel="channel", tags={"id": who}
            )
            alias = "support" if who == "ann" else "sales"
            await runtime.plugins[alias].actions.start_hitl(
                title=who, conversation_id=conversation.id, user_id=user.id
            )
        await runtime.process_pending()
        assert len(await support.opened()) == 1 and len(await sales.opened()) == 1
        ann = await user_ctx.get_or_create_conversation(channel="channel", tags={"id": "ann"})
        assert channel.texts(ann.id) == ["support!"]
        assert await runtime.context("sales").get_state("conversation", ann.id, "session") is None
    finally:
        await runtime.stop()
        await store.close()


async def test_a_relayed_message_that_never_arrives_is_answered_to_its_writer(
    harness_with: Start, helpdesk: MemoryHelpdesk
) -> None:
    from patchwire import RuntimeSettings

    harness = await harness_with()
    harness.runtime.settings = RuntimeSettings(
        delivery_retry_hours=0.5 / 3600, max_retry_seconds=0.1
    )
    await harness.start()
    helpdesk.go_down()
    await harness.say("are you there?")
    for _ in range(40):
        if UNDELIVERED in await harness.user_sees():
            break
        await asyncio.sleep(0.1)
        await harness.settle()
    seen = await harness.user_sees()
    assert seen.count(UNDELIVERED) == 1
    [(job, error)] = await harness.runtime.store.failed_jobs()
    assert job.kind == "deliver" and "still undeliverable" in error
    helpdesk.come_back()
    await harness.say("and now?")
    [remote] = await helpdesk.opened()
    assert (await helpdesk.received(remote))[-1:] == ["and now?"]


UNDELIVERED = "Sorry, your last message could not be delivered: the other side cannot be reached."
