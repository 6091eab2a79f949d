"""Who is calling the desk's API: a login cookie with its CSRF token, or a bearer token.

Browsers send cookies on their own, also with requests another site starts, so a cookie login
counts only with the CSRF token the page got at login echoed in ``X-CSRF-Token``; and every
POST must be JSON from this origin (a cross-site form or ``text/plain`` POST needs neither a
preflight nor a token, and is refused here). A bearer token is never sent by a browser on its
own, so it needs no CSRF token.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from patchwire_generic_hitl.desk._accounts import LOGIN_SECONDS, Accounts, Login

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "AuthError",
    "check_json_from_here",
    "forget_cookie",
    "login_of",
    "set_login_cookie",
]

COOKIE = "patchwire_desk_login"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthError(Exception):
    """A request refused before it does anything: ``status`` and a reason for the caller."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_json_from_here(request: Request) -> None:
    """Refuse POSTs from another origin, and POSTs whose body is not declared JSON."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise AuthError(403, f"cross-origin request refused (Origin {origin!r})")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise AuthError(403, "cross-site request refused")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise AuthError(
            415, f"send the body as application/json (got {media_type or 'no content type'!r})"
        )


async def login_of(request: Request, accounts: Accounts) -> Login:
    """The caller's login, or an :class:`AuthError` saying how to log in."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(
                401, "the Authorization header must be 'Bearer <token>' (POST /api/tokens)"
            )
        login = await accounts.login(token.strip(), "bearer")
        if login is None:
            raise AuthError(401, "unknown or expired bearer token: get one from POST /api/tokens")
        return login
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise AuthError(401, "log in first: the page at /login, or POST /api/login")
    login = await accounts.login(cookie, "cookie")
    if login is None:
        raise AuthError(401, "your login has expired or was ended: log in again at /login")
    if request.method not in _SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), login.csrf_token.encode()):
            raise AuthError(
                403, f"missing or wrong {CSRF_HEADER} header (the page gets it from /api/me)"
            )
    return login


def set_login_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=LOGIN_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def forget_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
