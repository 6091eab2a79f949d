"""The integration's definition: configuration, the ``hitlConversation`` entity, ``hitl`` claim."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from patchwire import EntityDefinition, IntegrationDefinition, WireModel, implements
from patchwire.interfaces.hitl import definition as hitl

__all__ = [
    "DEFAULT_VERSION",
    "REGIONS",
    "HitlConversation",
    "IntercomConfiguration",
    "definition",
]

REGIONS: dict[str, str] = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}
"""Intercom hosts each workspace in one region; a token only works against its own."""

DEFAULT_VERSION = "2.16"
"""The API version this integration is written and tested against."""


class IntercomConfiguration(WireModel):
    access_token: str = Field(
        min_length=1,
        description="Access token of the Intercom app (Developer Hub > Authentication).",
    )
    client_secret: str = Field(
        min_length=1,
        description="The app's client secret (Developer Hub > Basic information); signs webhooks.",
    )
    region: Literal["us", "eu", "au"] = Field(
        default="us", description="Where the workspace is hosted: us, eu or au."
    )
    base_url: str | None = Field(
        default=None, description="Overrides the region's API URL (a proxy, or a local fake)."
    )
    intercom_version: str = Field(
        default=DEFAULT_VERSION,
        pattern=r"^(\d+\.\d+|Unstable)$",
        description="The pinned Intercom-Version header; 2.16 is the version this is tested on.",
    )
    bot_admin_id: str | None = Field(
        default=None,
        min_length=1,
        description="Admin who writes notes, assigns and closes (default: the token's owner).",
    )
    contact_role: Literal["user", "lead"] = Field(
        default="user", description="Role of the contacts created for end users: user or lead."
    )

    @property
    def api_url(self) -> str:
        """The API root every call goes to."""
        return (self.base_url or REGIONS[self.region]).rstrip("/")


class HitlConversation(WireModel):
    """How agent code shapes the Intercom conversation a handoff opens."""

    team_id: str | None = Field(default=None, description="Assign the conversation to this team.")
    admin_id: str | None = Field(default=None, description="Assign it to this teammate.")
    priority: Literal["none", "low", "medium", "high", "urgent"] | None = Field(
        default=None, description="Shown in the transcript note (the 2.16 API cannot set it)."
    )
    tags: list[str] = Field(default_factory=list, description="Tag names applied to it.")


definition = IntegrationDefinition(
    name="intercom",
    version="0.1.0",
    title="Intercom",
    description="Hand conversations to human agents in Intercom's inbox, and back.",
    configuration=IntercomConfiguration,
    entities={
        "hitlConversation": EntityDefinition(model=HitlConversation, title="Intercom conversation")
    },
    implements=[implements(hitl, entities={"hitlSession": "hitlConversation"})],
)
