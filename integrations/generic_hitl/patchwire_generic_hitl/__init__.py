"""patchwire-generic-hitl: hand conversations to any live-agent service over HTTP."""

from __future__ import annotations

from patchwire_generic_hitl._client import ServiceClient, ServiceError
from patchwire_generic_hitl._definition import (
    GenericHitlConfiguration,
    HitlSession,
    definition,
)
from patchwire_generic_hitl._integration import integration
from patchwire_generic_hitl._signing import HEADER, SignatureError, sign, verify

__all__ = [
    "HEADER",
    "GenericHitlConfiguration",
    "HitlSession",
    "ServiceClient",
    "ServiceError",
    "SignatureError",
    "definition",
    "integration",
    "sign",
    "verify",
]
