"""Who may read ``/metrics``: anyone, or, when ``$PATCHWIRE_METRICS_TOKEN`` is set, only a
scraper sending it as a bearer token (the agent's port often faces the internet for webhooks)."""

from __future__ import annotations

import hmac
import os

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["METRICS_TOKEN_ENV", "metrics_refusal"]

METRICS_TOKEN_ENV = "PATCHWIRE_METRICS_TOKEN"


def metrics_refusal(request: Request) -> Response | None:
    """None when the request may read the metrics, else the 401 to answer."""
    token = os.environ.get(METRICS_TOKEN_ENV)
    if not token:
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode()):
        return None
    return JSONResponse(
        {"error": f"/metrics needs 'Authorization: Bearer <${METRICS_TOKEN_ENV}>'"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
