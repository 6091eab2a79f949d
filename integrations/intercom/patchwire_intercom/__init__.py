"""patchwire-intercom: hand conversations to human agents in Intercom's inbox, and back."""

from __future__ import annotations

from patchwire_intercom._client import (
    IntercomAuthError,
    IntercomClient,
    IntercomError,
    IntercomNotFoundError,
)
from patchwire_intercom._definition import (
    DEFAULT_VERSION,
    REGIONS,
    HitlConversation,
    IntercomConfiguration,
    definition,
)
from patchwire_intercom._integration import integration
from patchwire_intercom._links import CONTACT_TAG, CONVERSATION_TAG
from patchwire_intercom._setup import setup_instructions, verify_online
from patchwire_intercom._signing import HEADER, SignatureError, sign, verify
from patchwire_intercom._webhook import TOPICS

__all__ = [
    "CONTACT_TAG",
    "CONVERSATION_TAG",
    "DEFAULT_VERSION",
    "HEADER",
    "REGIONS",
    "TOPICS",
    "HitlConversation",
    "IntercomAuthError",
    "IntercomClient",
    "IntercomConfiguration",
    "IntercomError",
    "IntercomNotFoundError",
    "SignatureError",
    "definition",
    "integration",
    "setup_instructions",
    "sign",
    "verify",
    "verify_online",
]
