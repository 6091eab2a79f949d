"""One proxied action call against the same validation and function called directly.

    .venv/bin/python bench/actions.py [--calls N]

Prints ns per call for: a bare async function call; the input model's validation plus the
call plus the output validation written by hand (the baseline); the same through patchwire's
action proxy, as agent code makes it (`integrations.<alias>.actions.<name>(...)`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from pydantic import Field

from patchwire import ActionDefinition, WireModel
from patchwire._proxies import Actions, Namespace, bind_action


class Input(WireModel):
    user_id: str
    title: str
    description: str | None = None
    priority: int = 0
    tags: list[str] = Field(default_factory=list)


class Output(WireModel):
    conversation_id: str


async def handler(ctx: object, data: Input) -> Output:
    return Output(conversation_id=data.user_id)


async def time_calls(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(1000):
        await call()
    start = time.perf_counter_ns()
    for _ in range(calls):
        await call()
    return (time.perf_counter_ns() - start) / calls


async def main(calls: int) -> None:
    arguments = {"user_id": "u1", "title": "Help", "priority": 2, "tags": ["vip"]}
    definition = ActionDefinition(input=Input, output=Output)

    async def invoke(validated: Input) -> Output:  # type: ignore[override]
        return await handler(None, validated)

    integrations = Namespace(
        "integration",
        {"desk": Actions("desk", {"start": bind_action("desk.start", definition, invoke)})},
    )

    prepared = Input.model_validate(arguments)

    async def bare() -> object:
        return await handler(None, prepared)

    async def direct() -> object:
        result = await handler(None, Input.model_validate(arguments))
        return (
            Output.model_validate(result.model_dump()) if not isinstance(result, Output) else result
        )

    async def proxied() -> object:
        return await integrations.desk.actions.start(**arguments)

    rows = [
        ("bare call (input built once)", await time_calls(bare, calls)),
        ("direct: validate + call (baseline)", await time_calls(direct, calls)),
        ("proxy: integrations.desk.actions.start", await time_calls(proxied, calls)),
    ]
    baseline = rows[1][1]
    print(f"{'path':42} {'ns/call':>10} {'vs baseline':>12}")
    for name, nanoseconds in rows:
        print(f"{name:42} {nanoseconds:10.0f} {nanoseconds / baseline:11.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    asyncio.run(main(parser.parse_args().calls))
