"""Testing helpers for patchwire and for authors of integrations and plugins."""

from patchwire.testing.distributions import (
    Distribution,
    ThrowawayEnvironment,
)

__all__ = ["Distribution", "ThrowawayEnvironment"]
