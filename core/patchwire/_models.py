"""The base model every schema in patchwire derives from.

Python code uses snake_case; agent.toml and the wire use camelCase. Both spellings are accepted
on input so a user can copy a field name from either place.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["WireModel"]


class WireModel(BaseModel):
    """A pydantic model with camelCase aliases that rejects unknown keys."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
        extra="forbid",
        frozen=False,
    )
