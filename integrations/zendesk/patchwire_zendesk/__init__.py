"""patchwire-zendesk: hand conversations to human agents in Zendesk Support tickets."""

from __future__ import annotations

from patchwire_zendesk._auth import ApiToken, ClientCredentials, Credentials
from patchwire_zendesk._client import ZendeskClient
from patchwire_zendesk._definition import HitlTicket, ZendeskConfiguration, definition
from patchwire_zendesk._desk import Desk, desk
from patchwire_zendesk._errors import (
    CredentialsError,
    ThrottledError,
    TicketGoneError,
    ZendeskError,
)
from patchwire_zendesk._integration import integration
from patchwire_zendesk._outbox import Comment, Outboxes, TicketOutbox
from patchwire_zendesk._provisioning import provision, trigger_specs, unprovision, webhook_name
from patchwire_zendesk._signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    timestamp_now,
    verify,
)
from patchwire_zendesk._transcript import render, transcript
from patchwire_zendesk._webhook import INVOCATION_HEADER

__all__ = [
    "INVOCATION_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ApiToken",
    "ClientCredentials",
    "Comment",
    "Credentials",
    "CredentialsError",
    "Desk",
    "HitlTicket",
    "Outboxes",
    "SignatureError",
    "ThrottledError",
    "TicketGoneError",
    "TicketOutbox",
    "ZendeskClient",
    "ZendeskConfiguration",
    "ZendeskError",
    "definition",
    "desk",
    "integration",
    "provision",
    "render",
    "sign",
    "timestamp_now",
    "transcript",
    "trigger_specs",
    "unprovision",
    "verify",
    "webhook_name",
]
