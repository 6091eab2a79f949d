"""The integration's definition: configuration, the ``hitlTicket`` entity, the ``hitl`` claim."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from patchwire import EntityDefinition, IntegrationDefinition, WireModel, implements
from patchwire.downloads import check_host_pattern
from patchwire.interfaces.hitl import definition as hitl

__all__ = ["HitlTicket", "ZendeskConfiguration", "definition", "is_email"]

_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG = re.compile(r"^[a-z0-9_\-:/.]{1,80}$")


class ZendeskConfiguration(WireModel):
    """agent.toml ``config`` of a Zendesk alias; secrets come in as ``${VAR}``."""

    subdomain: str | None = Field(
        default=None, description="The account's subdomain: acme for https://acme.zendesk.com"
    )
    base_url: str | None = Field(
        default=None,
        description="Overrides the URL derived from subdomain (a proxy, a sandbox, a fake).",
    )
    client_id: str | None = Field(
        default=None, description="OAuth client identifier (client credentials grant; default)."
    )
    client_secret: str | None = Field(default=None, description="OAuth client secret.")
    oauth_scope: str = Field(
        default="read write", description="Scopes asked for with the client credentials token."
    )
    email: str | None = Field(
        default=None, description="Legacy API-token authentication: the agent's email."
    )
    api_token: str | None = Field(
        default=None,
        description="Legacy API token (Zendesk is retiring API tokens; prefer OAuth).",
    )
    public_url: str | None = Field(
        default=None,
        description="Where Zendesk reaches this agent, e.g. https://bot.example.com, when it "
        "differs from the agent's public_url (agent.toml or serve --public-url); register "
        "points the webhook at <publicUrl>/webhooks/<alias>.",
    )
    ticket_tag: str = Field(
        default="patchwire_hitl",
        description="Tag put on every handoff ticket; the triggers only fire for it.",
    )
    close_status: Literal["closed", "solved"] = Field(
        default="closed", description="Status stop_hitl sets (closed, as the reference does)."
    )
    transcript_public: bool = Field(
        default=True,
        description="Whether the first comment (the transcript) is public or an internal note.",
    )
    upload_attachments: bool = Field(
        default=True,
        description="Upload images and files as Zendesk attachments (else they are linked).",
    )
    attachment_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts the users' files may be fetched from for upload, besides the Zendesk "
        "account's own: files.example.com, or *.example.com for every subdomain. Files "
        "elsewhere are linked, not fetched.",
    )
    max_attachment_bytes: int = Field(default=20_000_000, ge=1, le=50_000_000)
    signature_tolerance_seconds: int = Field(
        default=300, ge=1, description="How far a webhook's signature timestamp may be off."
    )

    @field_validator("subdomain")
    @classmethod
    def _subdomain_shape(cls, value: str | None) -> str | None:
        if value is not None and not _SUBDOMAIN.match(value):
            raise ValueError(
                "subdomain is the account name only (acme for acme.zendesk.com): "
                "lowercase letters, digits and dashes"
            )
        return value

    @field_validator("base_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local fake)")
        return value.rstrip("/") if value else value

    @field_validator("attachment_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        return [check_host_pattern(host) for host in value]

    @field_validator("ticket_tag")
    @classmethod
    def _tag_shape(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError("a Zendesk tag: lowercase, no spaces, at most 80 characters")
        return value

    @model_validator(mode="after")
    def _one_account_one_credential(self) -> ZendeskConfiguration:
        if not self.subdomain and not self.base_url:
            raise ValueError("give subdomain (acme for acme.zendesk.com) or baseUrl")
        oauth = bool(self.client_id or self.client_secret)
        token = bool(self.email or self.api_token)
        if oauth and token:
            raise ValueError(
                "give either clientId + clientSecret (OAuth) or email + apiToken (legacy), not both"
            )
        if oauth and not (self.client_id and self.client_secret):
            raise ValueError("OAuth needs both clientId and clientSecret")
        if token and not (self.email and self.api_token):
            raise ValueError("API-token authentication needs both email and apiToken")
        if not oauth and not token:
            raise ValueError(
                "no credentials: give clientId + clientSecret (an OAuth client, "
                "Admin Center > Apps and integrations > APIs > OAuth clients)"
            )
        return self

    @property
    def url(self) -> str:
        """The API origin: ``baseUrl`` as given, else ``https://<subdomain>.zendesk.com``."""
        return self.base_url or f"https://{self.subdomain}.zendesk.com"

    @property
    def uses_oauth(self) -> bool:
        return self.client_id is not None


class HitlTicket(WireModel):
    """What agent code may pass as ``hitl_session``: how the ticket is filed."""

    priority: Literal["low", "normal", "high", "urgent"] | None = None
    requester_name: str | None = Field(default=None, min_length=1, max_length=255)
    requester_email: str | None = None
    ticket_form_id: str | None = None
    group_id: str | None = None
    tags: list[str] | None = None
    chatbot_name: str | None = Field(default=None, min_length=1, max_length=255)
    chatbot_photo_url: str | None = None

    @field_validator("ticket_form_id", "group_id", mode="before")
    @classmethod
    def _numeric_id(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and (not isinstance(value, str) or not value.isdigit()):
            raise ValueError("must be a numeric Zendesk id, such as 360001234567")
        return value

    @field_validator("requester_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("must be an email address such as jane@example.com")
        return value

    @field_validator("chatbot_photo_url")
    @classmethod
    def _photo(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be a public https:// URL of an image")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        for tag in value or []:
            if not _TAG.match(tag):
                raise ValueError(f"{tag!r} is not a Zendesk tag: lowercase, no spaces")
        return value

    @model_validator(mode="after")
    def _email_needs_name(self) -> HitlTicket:
        if self.requester_email and not self.requester_name:
            raise ValueError("requesterEmail is used only together with requesterName")
        return self


definition = IntegrationDefinition(
    name="zendesk",
    version="0.1.0",
    title="Zendesk",
    description="Hand conversations to human agents in Zendesk Support tickets.",
    configuration=ZendeskConfiguration,
    entities={"hitlTicket": EntityDefinition(model=HitlTicket, title="Zendesk ticket")},
    implements=[implements(hitl, entities={"hitlSession": "hitlTicket"})],
)


def is_email(value: str) -> bool:
    """Whether ``value`` looks deliverable enough to give Zendesk (no placeholder addresses)."""
    return bool(_EMAIL.match(value))
