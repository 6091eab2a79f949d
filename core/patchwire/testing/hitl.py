"""The HITL conformance kit: one suite every integration claiming ``hitl<...>`` can run.

An implementer gives a :class:`Helpdesk` (how to open its package and how to act as a human
agent in its outside system) through a ``helpdesk`` fixture, and subclasses
:class:`HitlConformance`::

    @pytest.fixture
    def helpdesk(my_fake_service) -> Helpdesk:
        return MyHelpdesk(my_fake_service)

    class TestMyIntegration(HitlConformance):
        pass

The suite starts a real runtime on a SQLite store with the ``hitl`` plugin bound to the
integration, users on two in-memory channels (one takes every type, one text only), and
checks the whole handoff from both sides: what the user sees and what the outside system
receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from patchwire import (
    Catalog,
    Integration,
    InterfaceDefinition,
    PatchwireError,
    Plugin,
    define_config,
    installed,
    resolve,
)
from patchwire.runtime import AgentCode, Conversation, MessageContext, Runtime
from patchwire.store import Conversation as StoredConversation
from patchwire.store import Message, Store
from patchwire.testing.channel import MemoryChannel

__all__ = [
    "ABORT_TEXT",
    "HELPDESK_ALIAS",
    "INCOMPATIBLE_TEXT",
    "JOINED_TEXT",
    "TEXT_ONLY",
    "Helpdesk",
    "HitlConformance",
    "HitlHarness",
    "PreparedHelpdesk",
    "start_harness",
]

HELPDESK_ALIAS = "desk"
"""The alias the harness installs the integration under unless told another one."""
USER_ALIAS = "user"
TEXT_ONLY = "textonly"
"""The alias of the harness's text-only user channel: ``say(..., via=TEXT_ONLY)``."""

JOINED_TEXT = "A human agent has joined the conversation."
INCOMPATIBLE_TEXT = (
    "Sorry, the user can not receive this type of message. "
    "Please resend your message as a text message."
)
ABORT_TEXT = "Something went wrong, you are not connected to a human agent..."


class Helpdesk(Protocol):
    """The integration under test, and a scripted human agent in its outside system."""

    @property
    def integration(self) -> Integration:
        """The package under test (any ``Integration[ConfigT]``)."""

    implementation_key: str
    configuration: Mapping[str, Any]

    def attach(self, runtime: Runtime, alias: str) -> None:
        """Called once the agent runs, with the alias the integration is installed under."""

    async def opened(self) -> list[str]:
        """Remote ids of the sessions the integration opened, oldest first."""

    async def received(self, remote_id: str) -> list[str]:
        """Texts the outside system received in a session (history, then relayed messages)."""

    async def assign(self, remote_id: str, agent_name: str) -> None: ...

    async def reply(
        self,
        remote_id: str,
        type: str,
        payload: Mapping[str, Any],
        *,
        message_id: str,
        agent_name: str = "Alice",
    ) -> None:
        """Deliver a message of agent ``agent_name`` to patchwire.

        ``message_id`` is the provider's id (the same id again is a redelivery). The kit
        sends ``text``, and ``image`` or ``file`` with a URL ending in the file's name. The
        driver fails (an assertion) when patchwire answers the delivery other than 2xx.
        """

    async def close(self, remote_id: str) -> None: ...

    def go_down(self) -> None:
        """Make the outside system fail every request until ``come_back``."""

    def come_back(self) -> None: ...


@runtime_checkable
class PreparedHelpdesk(Helpdesk, Protocol):
    """A driver with async work around each test: the harness awaits ``prepare`` after
    ``attach`` and ``teardown`` when the test ends (``HitlHarness.close``)."""

    async def prepare(self) -> None:
        """Before the test runs: run a register step, open a client, fill the fake service."""

    async def teardown(self) -> None:
        """After the test, before the agent stops: close what ``attach`` or ``prepare`` opened."""


@dataclass
class HitlHarness:
    runtime: Runtime
    channel: MemoryChannel
    text_channel: MemoryChannel
    helpdesk: Helpdesk
    handled: list[str]
    alias: str = HELPDESK_ALIAS
    """The alias the integration under test is installed under."""

    async def user_conversation(
        self, user: str = "u1", *, via: str = USER_ALIAS
    ) -> tuple[StoredConversation, str]:
        ctx = self.runtime.context(via)
        found = await ctx.get_or_create_user(tags={"id": user}, name=f"User {user}")
        conversation = await ctx.get_or_create_conversation(channel="channel", tags={"id": user})
        return conversation, found.id

    async def say(
        self,
        text: str,
        *,
        user: str = "u1",
        via: str = USER_ALIAS,
        type: str = "text",
        payload: Mapping[str, Any] | None = None,
    ) -> Message:
        conversation, user_id = await self.user_conversation(user, via=via)
        message = await self.runtime.context(via).receive_message(
            conversation_id=conversation.id,
            user_id=user_id,
            type=type,
            payload=payload if payload is not None else {"text": text},
        )
        assert message is not None
        await self.settle()
        return message

    async def settle(self) -> None:
        """Run every queued job, including those the previous ones queued."""
        await self.runtime.process_pending()

    async def close(self) -> None:
        """Tear the driver down (a ``PreparedHelpdesk``), stop the agent, close its store."""
        try:
            if isinstance(self.helpdesk, PreparedHelpdesk):
                await self.helpdesk.teardown()
        finally:
            await self.runtime.stop()
            await self.runtime.store.close()

    async def user_sees(self, user: str = "u1", *, via: str = USER_ALIAS) -> list[str]:
        conversation, _ = await self.user_conversation(user, via=via)
        channel = self.text_channel if via == TEXT_ONLY else self.channel
        return channel.texts(conversation.id)

    async def hand_off(self, user: str = "u1", *, via: str = USER_ALIAS) -> str:
        """The user types /starthitl; the remote id of the one session that opened."""
        before = await self.helpdesk.opened()
        await self.say("/starthitl", user=user, via=via)
        opened = [remote for remote in await self.helpdesk.opened() if remote not in before]
        assert len(opened) == 1, f"the handoff opened {len(opened)} sessions, not one"
        return opened[0]

    async def start(self, user: str = "u1", **overrides: Any) -> str:
        conversation, user_id = await self.user_conversation(user)
        started = await self.runtime.plugins.hitl.actions.start_hitl(
            title="Help",
            description="Escalated by a test",
            conversation_id=conversation.id,
            user_id=user_id,
            configuration_overrides=overrides or None,
        )
        await self.settle()
        return str(started.model_dump()["downstream_conversation_id"])


async def start_harness(
    helpdesk: Helpdesk,
    directory: Path,
    *,
    database_url: str | None = None,
    alias: str = HELPDESK_ALIAS,
    model: str | Mapping[str, Any] | None = None,
    public_url: str | None = None,
    **plugin_config: Any,
) -> HitlHarness:
    """An agent handing off to ``helpdesk`` installed as ``alias``, on a SQLite file in
    ``directory`` by default; ``model`` is its ``[model]`` (the built-in responder by default),
    ``public_url`` the agent's (what register steps read).

    A ``PreparedHelpdesk`` is prepared before this returns; ``HitlHarness.close`` ends it all.
    """
    channel = MemoryChannel()
    text_channel = MemoryChannel("memory-text-channel", types=["text"])
    handled: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        handled.append(ctx.text)
        if ctx.text == "/starthitl":
            with contextlib.suppress(PatchwireError):
                await ctx.plugins.hitl.actions.start_hitl(
                    title="Help", conversation_id=ctx.conversation.id, user_id=ctx.message.user_id
                )
            return
        await ctx.reply(f"bot: {ctx.text}")

    config = define_config(
        name="conformance",
        public_url=public_url,
        integrations={
            USER_ALIAS: "memory-channel@latest",
            TEXT_ONLY: "memory-text-channel@latest",
            alias: {
                "version": f"{helpdesk.integration.definition.name}@latest",
                "config": dict(helpdesk.configuration),
            },
        },
        plugins={
            "hitl": {
                "version": "hitl@latest",
                "config": plugin_config,
                "dependencies": {
                    "hitl": {
                        "integrationAlias": alias,
                        "integrationInterfaceAlias": helpdesk.implementation_key,
                    }
                },
            }
        },
        model=model,
    )
    interface, plugin = installed().load("interface", "hitl"), _hitl_plugin()
    assert isinstance(interface, InterfaceDefinition)
    catalog = Catalog.from_objects(
        interfaces=[interface],
        integrations=[channel.integration, text_channel.integration, helpdesk.integration],
        plugins=[plugin],
    )
    store = await Store.open(database_url or f"sqlite:///{directory / 'conformance.db'}")
    runtime = await Runtime.start(
        resolve(config, catalog),
        store=store,
        code=AgentCode(
            None,
            (
                Conversation(
                    channel=[f"{USER_ALIAS}.channel", f"{TEXT_ONLY}.channel"], handler=handler
                ),
            ),
        ),
    )
    harness = HitlHarness(runtime, channel, text_channel, helpdesk, handled, alias)
    helpdesk.attach(runtime, alias)
    if isinstance(helpdesk, PreparedHelpdesk):
        try:
            await helpdesk.prepare()
        except BaseException:
            await runtime.stop()
            await store.close()
            raise
    return harness


def _hitl_plugin() -> Plugin:
    """The installed ``hitl`` plugin, which the harness hands off with."""
    if "hitl" not in installed().names("plugin"):
        raise PatchwireError(
            "the HITL conformance kit needs the hitl plugin: pip install patchwire-hitl "
            "(put it in your package's test extra)"
        )
    plugin = installed().load("plugin", "hitl")
    assert isinstance(plugin, Plugin)
    return plugin


class HitlConformance:
    """The checks every ``hitl`` implementation passes; subclass it as ``Test...``.

    The ``hitl_harness`` fixture comes from patchwire's pytest plugin and uses your
    ``helpdesk`` fixture.
    """

    async def test_start_carries_the_history(self, hitl_harness: HitlHarness) -> None:
        await hitl_harness.say("my order is late")
        await hitl_harness.say("/starthitl")
        [remote] = await hitl_harness.helpdesk.opened()
        received = await hitl_harness.helpdesk.received(remote)
        assert any("my order is late" in text for text in received)
        assert any("bot: my order is late" in text for text in received)

    async def test_messages_flow_both_ways_while_the_agent_is_paused(
        self, hitl_harness: HitlHarness
    ) -> None:
        await hitl_harness.say("/starthitl")
        [remote] = await hitl_harness.helpdesk.opened()
        await hitl_harness.helpdesk.assign(remote, "Alice")
        await hitl_harness.settle()
        await hitl_harness.say("hello agent")
        await hitl_harness.helpdesk.reply(remote, "text", {"text": "hello user"}, message_id="a1")
        await hitl_harness.settle()
        assert "hello agent" in await hitl_harness.helpdesk.received(remote)
        seen = await hitl_harness.user_sees()
        assert JOINED_TEXT in seen
        assert "hello user" in seen
        assert "hello agent" not in hitl_harness.handled

    async def test_each_relayed_type_reaches_the_agent(self, hitl_harness: HitlHarness) -> None:
        await hitl_harness.say("/starthitl")
        [remote] = await hitl_harness.helpdesk.opened()
        payloads: dict[str, dict[str, Any]] = {
            "image": {"imageUrl": "https://example.com/a.png"},
            "audio": {"audioUrl": "https://example.com/a.mp3"},
            "video": {"videoUrl": "https://example.com/a.mp4"},
            "file": {"fileUrl": "https://example.com/a.pdf", "title": "a.pdf"},
            "bloc": {"items": [{"type": "text", "payload": {"text": "in a bloc"}}]},
        }
        for type_, payload in payloads.items():
            await hitl_harness.say("", type=type_, payload=payload)
        received = " ".join(await hitl_harness.helpdesk.received(remote))
        for needle in ("a.png", "a.mp3", "a.mp4", "a.pdf", "in a bloc"):
            assert needle in received

    async def test_a_duplicate_delivery_reaches_the_user_once(
        self, hitl_harness: HitlHarness
    ) -> None:
        await hitl_harness.say("/starthitl")
        [remote] = await hitl_harness.helpdesk.opened()
        for _ in range(3):
            await hitl_harness.helpdesk.reply(
                remote, "text", {"text": "only once"}, message_id="d1"
            )
        await hitl_harness.settle()
        assert (await hitl_harness.user_sees()).count("only once") == 1

    async def test_the_user_closes(self, hitl_harness: HitlHarness) -> None:
        await hitl_harness.say("/starthitl")
        [remote] = await hitl_harness.helpdesk.opened()
        await hitl_harness.say("  /END ")
        received = await hitl_harness.helpdesk.received(remote)
        assert "( The user has ended the session. )" in received
        assert (await hitl_harness.user_sees())[-1] == (
            "You have ended the session with the human agent. I will continue assisting you."
        )
        assert not any(text.strip().lower() == "/end" for text in hitl_harness.handled)
        await hitl_harness.say("back to the bot")
        assert "back to the bot" in hitl_harness.handled

    async def test_the_agent_closes(self, hitl_harness: HitlHarness) -> None:
        await hitl_harness.say("/starthitl")
        [remote] = await hitl_harness.helpdesk.opened()
        await hitl_harness.helpdesk.close(remote)
        await hitl_harness.settle()
        assert (await hitl_harness.user_sees())[-1] == (
            "The human agent closed the conversation. I will continue assisting you."
        )
        await hitl_harness.say("hi bot")
        assert "hi bot" in hitl_harness.handled

    async def test_the_outside_system_down_at_start(self, hitl_harness: HitlHarness) -> None:
        hitl_harness.helpdesk.go_down()
        try:
            await hitl_harness.say("/starthitl")
        finally:
            hitl_harness.helpdesk.come_back()
        assert (await hitl_harness.user_sees())[-1] == (
            "Sorry, I could not connect you with a human agent. Please try again later."
        )
        await hitl_harness.say("still there?")
        assert "still there?" in hitl_harness.handled
        await asyncio.sleep(0)

    async def test_agents_taking_turns_join_once_and_a_reassignment_is_a_transfer(
        self, hitl_harness: HitlHarness
    ) -> None:
        remote = await hitl_harness.hand_off()
        turns = ["Alice", "Bob", "Alice", "Bob"]
        for n, agent in enumerate(turns):
            await hitl_harness.helpdesk.reply(
                remote, "text", {"text": f"turn {n}"}, message_id=f"turn-{n}", agent_name=agent
            )
            await hitl_harness.settle()
        seen = await hitl_harness.user_sees()
        assert seen.count(JOINED_TEXT) == 1, seen
        assert [text for text in seen if text.startswith("turn ")] == [
            f"turn {n}" for n in range(len(turns))
        ]
        await hitl_harness.helpdesk.assign(remote, "Carol")
        await hitl_harness.settle()
        seen = await hitl_harness.user_sees()
        assert seen.count("Your conversation has been transferred to Carol.") == 1, seen
        assert seen.count(JOINED_TEXT) == 1, seen

    async def test_a_type_the_users_channel_cannot_show_is_explained_to_the_agent(
        self, hitl_harness: HitlHarness
    ) -> None:
        remote = await hitl_harness.hand_off("t1", via=TEXT_ONLY)
        await hitl_harness.helpdesk.reply(
            remote, "image", {"imageUrl": "https://example.com/chart.png"}, message_id="img-1"
        )
        await hitl_harness.settle()
        received = await hitl_harness.helpdesk.received(remote)
        assert sum(INCOMPATIBLE_TEXT in text for text in received) == 1, received
        seen = await hitl_harness.user_sees("t1", via=TEXT_ONLY)
        assert not any("chart.png" in text for text in seen), seen
        await hitl_harness.helpdesk.reply(
            remote, "text", {"text": "here it is as text"}, message_id="txt-1"
        )
        await hitl_harness.settle()
        assert "here it is as text" in await hitl_harness.user_sees("t1", via=TEXT_ONLY)

    async def test_an_agent_message_with_no_linked_user_is_answered_with_the_abort_text(
        self, hitl_harness: HitlHarness
    ) -> None:
        remote = await hitl_harness.hand_off()
        conversation, _ = await hitl_harness.user_conversation()
        found = await hitl_harness.runtime.plugins.hitl.actions.get_session(
            conversation_id=conversation.id
        )
        downstream_id = found.model_dump()["session"]["downstream_conversation_id"]
        helpdesk_ctx = hitl_harness.runtime.context(hitl_harness.alias, "integration")
        await helpdesk_ctx.update_conversation(downstream_id, tags={"hitl.upstream": ""})
        await hitl_harness.helpdesk.reply(
            remote, "text", {"text": "anyone there?"}, message_id="lost-1"
        )
        await hitl_harness.settle()
        received = await hitl_harness.helpdesk.received(remote)
        assert sum(ABORT_TEXT in text for text in received) == 1, received
        assert "anyone there?" not in await hitl_harness.user_sees()
