"""Verifying signed webhooks, one strict way for every integration (and the agent desk).

A :class:`SignatureScheme` reads a provider's signature headers strictly (exact field names,
one of each, no extras, the exact characters of each value) and says which bytes are signed;
:class:`WebhookVerifier` checks the MAC in constant time and the timestamp against a window,
then refuses a replay. The replay key is what was signed (the timestamp and the MAC), never the
header's spelling, so a signature written another way is the same signature. Keys are kept
through a ``remember`` callable for twice the window: ``Context.remember`` keeps them in the
agent's store (so they survive restarts and are shared by processes); the desk passes its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, StringConstraints, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from patchwire._errors import PatchwireError, format_validation_error
from patchwire.store._tables import IdempotencyKeyRow, TagRow, UserRow

__all__ = [
    "KEY_LENGTH",
    "NAME_LENGTH",
    "PATCHWIRE_SIGNATURE",
    "TAG_VALUE_LENGTH",
    "BodyError",
    "Key",
    "PatchwireSignature",
    "Refused",
    "Remember",
    "ReplayError",
    "SignatureError",
    "SignatureScheme",
    "Signed",
    "TagValue",
    "WebhookVerifier",
    "parse_body",
    "parse_fields",
]


def _length(column: object) -> int:
    length = getattr(getattr(column, "type", None), "length", None)
    assert isinstance(length, int), f"{column!r} has no length"
    return length


KEY_LENGTH = _length(IdempotencyKeyRow.__table__.c.key)
"""The longest remembered or deduplication key the store keeps (``remember``, ``dedupe_key``)."""
TAG_VALUE_LENGTH = _length(TagRow.__table__.c.value)
"""The longest tag value the store keeps (ids looked up by tag, such as a remote id)."""
NAME_LENGTH = _length(UserRow.__table__.c.name)
"""The longest user name the store keeps."""

Key = Annotated[str, StringConstraints(min_length=1, max_length=KEY_LENGTH)]
"""A field of an inbound body stored as a deduplication key: refused (400) when too long."""
TagValue = Annotated[str, StringConstraints(min_length=1, max_length=TAG_VALUE_LENGTH)]
"""A field of an inbound body stored or looked up as a tag value: refused (400) when too long."""


class Refused(PatchwireError, ValueError):
    """Why an inbound request is refused, safe to send back; ``response()`` is the answer."""

    status = 400

    def response(self) -> JSONResponse:
        return JSONResponse({"error": str(self)}, status_code=self.status)


class BodyError(Refused):
    """A body that is not what the route takes (answered 400)."""


class SignatureError(Refused):
    """Why a request's signature was refused (answered 401)."""

    status = 401


class ReplayError(SignatureError):
    """A valid signature seen before: the request is a replay."""


@dataclass(frozen=True)
class Signed:
    """What a request's signature headers claim, read strictly."""

    mac: bytes
    """The MAC the headers carry, decoded."""
    message: bytes
    """The exact bytes the MAC covers."""
    timestamp: float | None
    """When it was signed (unix seconds); None for a scheme that signs no time."""
    key: str
    """What identifies this signature for replay defence: what was signed, not how it is spelt."""


class SignatureScheme(Protocol):
    """How one provider signs: which headers, which bytes, which MAC."""

    @property
    def header(self) -> str:
        """The header named in errors (the one carrying the MAC)."""
        ...

    def read(self, headers: Mapping[str, str], body: bytes) -> Signed:
        """The signature of ``body`` as the headers give it (:class:`SignatureError` if none or
        malformed)."""
        ...

    def mac(self, secret: bytes, message: bytes) -> bytes:
        """The MAC ``secret`` gives ``message``."""
        ...


class Remember(Protocol):
    """``await remember(key, forget_after=...)``: True the first time ``key`` is seen.

    ``Context.remember`` is one; the desk provides its own over its store.
    """

    def __call__(self, key: str, *, forget_after: timedelta | None = ...) -> Awaitable[bool]: ...


_Model = TypeVar("_Model", bound=BaseModel)


def parse_body(model: type[_Model], raw: bytes | Mapping[str, Any]) -> _Model:
    """``raw`` (JSON bytes, or a part of a body already decoded) as ``model``; else
    :class:`BodyError` saying what is wrong (bad JSON, which field)."""
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as error:
        raise BodyError(f"malformed body: {format_validation_error(error)}") from None


def parse_fields(header: str, value: str, shapes: Mapping[str, re.Pattern[str]]) -> dict[str, str]:
    """``name=value`` fields separated by commas, each name of ``shapes`` exactly once, in any
    order, each value matching its shape in full; nothing else (no spaces, no extras)."""
    expected = ",".join(f"{name}=<{name}>" for name in shapes)
    fields: dict[str, str] = {}
    for part in value.split(","):
        name, equals, text = part.partition("=")
        if not equals or name not in shapes:
            raise SignatureError(
                f"malformed {header} header: unexpected field {part[:40]!r} (expected {expected})"
            )
        if name in fields:
            raise SignatureError(f"malformed {header} header: {name!r} is given twice")
        if not shapes[name].fullmatch(text):
            raise SignatureError(
                f"malformed {header} header: {name}={text[:80]!r} is not a valid value"
            )
        fields[name] = text
    missing = [name for name in shapes if name not in fields]
    if missing:
        raise SignatureError(f"malformed {header} header: no {missing[0]!r} (expected {expected})")
    return fields


_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PatchwireSignature:
    """``X-Patchwire-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256>`` of
    ``"<t>.<raw body>"``: the generic HITL protocol's scheme, both ways."""

    header: str = "X-Patchwire-Signature"

    def read(self, headers: Mapping[str, str], body: bytes) -> Signed:
        value = headers.get(self.header)
        if not value:
            raise SignatureError(f"missing {self.header} header")
        fields = parse_fields(self.header, value, {"t": _DIGITS, "v1": _HEX_SHA256})
        return Signed(
            mac=bytes.fromhex(fields["v1"]),
            message=fields["t"].encode() + b"." + body,
            timestamp=float(fields["t"]),
            key=f"{fields['t']}:{fields['v1']}",
        )

    def mac(self, secret: bytes, message: bytes) -> bytes:
        return hmac.new(secret, message, hashlib.sha256).digest()

    def sign(self, secret: str, body: bytes, *, timestamp: int | None = None) -> str:
        """The header value that signs ``body`` at ``timestamp`` (now by default)."""
        moment = int(time.time()) if timestamp is None else timestamp
        message = f"{moment}.".encode() + body
        return f"t={moment},v1={self.mac(secret.encode(), message).hex()}"


PATCHWIRE_SIGNATURE = PatchwireSignature()


class WebhookVerifier:
    """Checks a scheme's signatures with one secret, inside a window, each accepted once.

    ``tolerance`` bounds how far a signed timestamp may be from now (None: the scheme signs no
    time). ``remember`` (see :class:`Remember`) makes a second delivery of one signature a
    :class:`ReplayError`; it keeps keys for twice the tolerance, after which the timestamp
    alone refuses them. Leave it out where the provider's own delivery id is what deduplicates
    (a scheme without a timestamp cannot tell a replay from a retry). ``secret_name`` says in
    a mismatch which secret to check.
    """

    def __init__(
        self,
        scheme: SignatureScheme,
        secret: str,
        *,
        tolerance: timedelta | None = timedelta(minutes=5),
        remember: Remember | None = None,
        secret_name: str = "the shared secret",
    ) -> None:
        if not secret:
            raise ValueError("a webhook verifier needs a non-empty secret")
        self.secret_name = secret_name
        self.scheme = scheme
        self.secret = secret.encode()
        self.tolerance = tolerance
        self.remember = remember

    async def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> Signed:
        """The signature once it holds and was not seen before; else :class:`SignatureError`
        (:class:`ReplayError` for a replay) saying why."""
        signed = self.check(headers, body, now=now)
        if self.remember is not None:
            window = 2 * self.tolerance if self.tolerance is not None else None
            if not await self.remember(f"signature:{signed.key}", forget_after=window):
                raise ReplayError("this signature was used already (a replayed request)")
        return signed

    def check(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> Signed:
        """The signature once it is well-formed, fresh and matches; replays are not looked at."""
        signed = self.scheme.read(headers, body)
        if self.tolerance is not None:
            if signed.timestamp is None:
                raise SignatureError(f"{self.scheme.header} signs no timestamp")
            distance = (time.time() if now is None else now) - signed.timestamp
            allowed = self.tolerance.total_seconds()
            if abs(distance) > allowed:
                raise SignatureError(
                    f"signature timestamp is {int(distance)} s away from now "
                    f"(at most {int(allowed)} s allowed)"
                )
        if not hmac.compare_digest(self.scheme.mac(self.secret, signed.message), signed.mac):
            raise SignatureError(
                f"the signature in {self.scheme.header} does not match the body and "
                f"{self.secret_name}"
            )
        return signed

    async def read(self, request: Request) -> bytes:
        """The request's body once its signature holds (for a route: ``await verifier.read``)."""
        body = await request.body()
        await self.verify(request.headers, body)
        return body
