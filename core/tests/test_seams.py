"""The typed seams: what a decorator refuses at import, naming the package and the function."""

from __future__ import annotations

from typing import Any

import pytest

from patchwire import (
    ChannelDefinition,
    Context,
    DefinitionError,
    Integration,
    IntegrationDefinition,
    Plugin,
    PluginDefinition,
    WireModel,
)
from patchwire.messages import PAYLOAD_MODELS
from patchwire.store import Message


class AcmeConfiguration(WireModel):
    url: str


def acme() -> Integration[AcmeConfiguration]:
    return Integration(
        IntegrationDefinition(
            name="acme",
            version="1.0.0",
            configuration=AcmeConfiguration,
            channels={"channel": ChannelDefinition(messages=dict(PAYLOAD_MODELS))},
        )
    )


def test_an_action_handler_without_its_input_parameter_is_refused() -> None:
    async def start_hitl(ctx: Context[AcmeConfiguration]) -> None: ...

    with pytest.raises(DefinitionError) as raised:
        acme().action("start_hitl")(start_hitl)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "acme: the handler of action 'start_hitl' "
        "test_an_action_handler_without_its_input_parameter_is_refused.<locals>.start_hitl"
        "(ctx: 'Context[AcmeConfiguration]') -> 'None' must take 2 positional parameters "
        "(ctx, input)"
    )


def test_a_sender_that_is_not_async_is_refused() -> None:
    def send(ctx: Any, message: Message) -> None: ...

    with pytest.raises(
        DefinitionError,
        match=r"^acme: the sender of channel 'channel' .*send "
        r"must be an async function \(async def send\(ctx, message\)\)$",
    ):
        acme().sender("channel")(send)  # type: ignore[arg-type]


def test_lifecycle_routes_and_check_take_one_parameter() -> None:
    integration = acme()

    async def register(ctx: Any, extra: str) -> None: ...

    def routes() -> list[Any]:
        return []

    async def check(configuration: AcmeConfiguration, *, timeout: float = 1) -> list[str]:
        return []

    with pytest.raises(
        DefinitionError, match=r"register step .* must take 1 positional parameter \(ctx\)$"
    ):
        integration.on_register(register)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=r"routes factory .* \(ctx\)$"):
        integration.routes(routes)  # type: ignore[arg-type]
    assert integration.on_check(check) is check  # keyword-only extras with defaults are fine
    assert integration.online_check is check


def test_a_hook_with_the_wrong_arity_or_twice_is_refused() -> None:
    plugin = Plugin(PluginDefinition(name="greeter", version="1.0.0"))

    async def before_incoming_event(ctx: Any) -> None: ...

    async def after_incoming_message(ctx: Any, message: Message) -> None: ...

    with pytest.raises(
        DefinitionError,
        match=r"^greeter: the hook .*before_incoming_event.* "
        r"must take 2 positional parameters \(ctx, event\)$",
    ):
        plugin.hook(before_incoming_event)  # type: ignore[call-overload]
    plugin.hook(after_incoming_message)
    with pytest.raises(
        DefinitionError, match=r"^greeter: hook 'after_incoming_message' is implemented twice$"
    ):
        plugin.hook(after_incoming_message)


def test_a_handler_taking_extra_optional_parameters_is_accepted() -> None:
    integration = acme()

    async def send(ctx: Context[AcmeConfiguration], message: Message, retry: int = 0) -> None: ...

    integration.sender("channel", "text")(send)
    assert integration.message_senders[("channel", "text")] is send
