"""The integration's definition: configuration, the ``hitlSession`` entity, ``hitl`` claim."""

from __future__ import annotations

from pydantic import Field, model_validator

from patchwire import EntityDefinition, IntegrationDefinition, WireModel, implements
from patchwire.interfaces.hitl import definition as hitl

__all__ = ["GenericHitlConfiguration", "HitlSession", "definition"]


class GenericHitlConfiguration(WireModel):
    endpoint_base_url: str = Field(
        min_length=1, description="Base URL of the live-agent service, e.g. http://localhost:8090"
    )
    signing_secret: str | None = Field(
        default=None, min_length=16, description="Shared secret that signs requests both ways."
    )
    allow_unsigned: bool = Field(
        default=False,
        description="Accept and send unsigned requests; only for services on a trusted network.",
    )

    @model_validator(mode="after")
    def _signed_unless_allowed(self) -> GenericHitlConfiguration:
        if not self.signing_secret and not self.allow_unsigned:
            raise ValueError(
                "signingSecret is required (16 characters or more, shared with the service); "
                "set allowUnsigned = true only for a service on a trusted network"
            )
        return self


class HitlSession(WireModel):
    """Free-form data forwarded to the service with the new conversation."""

    model_config = WireModel.model_config | {"extra": "allow"}


definition = IntegrationDefinition(
    name="generic-hitl",
    version="0.1.0",
    title="Generic HITL",
    description="Any live-agent service that speaks patchwire's generic HITL HTTP protocol.",
    configuration=GenericHitlConfiguration,
    entities={"hitlSession": EntityDefinition(model=HitlSession, title="HITL session")},
    implements=[implements(hitl, entities={"hitlSession": "hitlSession"})],
)
