"""A local Chat Completions server for tests: what ``[model]`` points at, over real HTTP.

It serves the part of the OpenAI API that ``ctx.execute`` uses, ``POST /v1/chat/completions``,
and checks each request as a server would: the key (when given one), the model (404 for one
it does not serve) and the messages (by the SDK's own ``ChatCompletionMessageParam``). Its
answers are ``openai.types.chat.ChatCompletion`` bodies, so the client under test parses what
a real server sends. Trouble is scripted: ``fail_next(429, 500)`` answers those statuses to
the next requests, ``send_next(response)`` any response, ``stall()`` holds answers until the
server stops. ::

    async with FakeChatCompletions(models={"support"}).serve() as fake:
        ...  # [model] provider = "openai-compatible", base_url = fake.url, model = "support"
        assert fake.requests[-1].messages[-1] == {"role": "user", "content": "hi"}
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire.testing.loopback import LoopbackServer

__all__ = ["ChatRequest", "FakeChatCompletions"]

_MESSAGES: TypeAdapter[list[ChatCompletionMessageParam]] = TypeAdapter(
    list[ChatCompletionMessageParam]
)
RETRY_AFTER_MS = "1"
"""A scripted failure asks for a retry after 1 ms, so the SDK's retries take no time."""


@dataclass(frozen=True)
class ChatRequest:
    """A request the fake accepted: the model asked for, the messages, the client's socket."""

    model: str
    messages: list[ChatCompletionMessageParam]
    peer: str
    """``host:port`` of the connection it came on: one client keeps reusing one."""


class FakeChatCompletions:
    """An OpenAI-compatible server on 127.0.0.1 that answers ``answer`` to every request."""

    def __init__(
        self,
        *,
        models: Collection[str] = ("test-model",),
        api_key: str | None = None,
        answer: str = "model answer",
    ) -> None:
        self.models = set(models)
        self.api_key = api_key
        """The key a request must carry (``Authorization: Bearer ...``); None accepts any."""
        self.answer = answer
        self.requests: list[ChatRequest] = []
        """Every request answered with a completion, oldest first."""
        self.attempts = 0
        """Every request received, scripted failures and refusals included."""
        self._scripted: deque[Response] = deque()
        self._stalled = False
        self._released = asyncio.Event()
        route = Route("/v1/chat/completions", self._complete, methods=["POST"])
        self._server = LoopbackServer(Starlette(routes=[route]))
        self.url = f"{self._server.url}/v1"
        """The ``base_url`` to configure: the API root, as for OpenAI itself."""

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (an OpenAI error body), in order."""
        for status in statuses:
            self._scripted.append(
                _error(
                    status, f"scripted failure {status}", headers={"retry-after-ms": RETRY_AFTER_MS}
                )
            )

    def send_next(self, response: Response) -> None:
        """Answer the next request with ``response`` as it is (a broken server's body)."""
        self._scripted.append(response)

    def stall(self) -> None:
        """Hold every later request unanswered until the server stops (a hung server)."""
        self._stalled = True

    async def _complete(self, request: Request) -> Response:
        self.attempts += 1
        if self._scripted:
            return self._scripted.popleft()
        if self._stalled:
            await self._released.wait()
            return _error(503, "the server is stopping")
        if self.api_key is not None and request.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        model = body.get("model") if isinstance(body, dict) else None
        if model not in self.models:
            return _error(404, f"The model {model!r} does not exist.", code="model_not_found")
        try:
            messages = _MESSAGES.validate_python(body.get("messages"))
        except ValidationError as error:
            return _error(400, f"invalid messages: {error}")
        if not messages:
            return _error(400, "messages is empty")
        peer = f"{request.client.host}:{request.client.port}" if request.client else ""
        self.requests.append(ChatRequest(model=model, messages=messages, peer=peer))
        return JSONResponse(self._completion(model).model_dump(mode="json", exclude_none=True))

    def _completion(self, model: str) -> ChatCompletion:
        return ChatCompletion.model_validate(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": self.answer},
                    }
                ],
            }
        )

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeChatCompletions]:
        """Serve on 127.0.0.1 until the block ends (held requests are let go first)."""
        async with self._server:
            try:
                yield self
            finally:
                self._released.set()


def _error(
    status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": "fake_error", "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)
