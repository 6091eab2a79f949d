"""Errors in the shape the Chat API clients parse into their typed error classes.

The official client rebuilds an error from the body's ``type`` (``ResourceNotFound``, ...), so
the type names and status codes below are part of the wire contract, not our own vocabulary.
"""

from __future__ import annotations

import secrets
import time

from starlette.responses import JSONResponse

__all__ = [
    "ApiError",
    "already_exists",
    "forbidden",
    "invalid_payload",
    "method_not_found",
    "not_found",
    "unauthorized",
]


class ApiError(Exception):
    """A refusal that becomes ``{id, code, type, message}`` with ``code`` as the HTTP status."""

    def __init__(self, code: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type = type_
        self.message = message

    def response(self) -> JSONResponse:
        body = {
            "id": f"err_{int(time.time() * 1000)}x{secrets.token_hex(8).upper()}",
            "code": self.code,
            "type": self.type,
            "message": self.message,
        }
        return JSONResponse(body, status_code=self.code)


def invalid_payload(message: str) -> ApiError:
    return ApiError(400, "InvalidPayload", message)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "Unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", message)


def method_not_found(message: str) -> ApiError:
    return ApiError(405, "MethodNotFound", message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, "AlreadyExists", message)
