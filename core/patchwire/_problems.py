"""Problem: one thing wrong with an agent's configuration, as ``patchwire check`` reports it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """A stable ``code``, where it is (``location`` in agent.toml), what is wrong, how to fix it."""

    code: str
    location: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.code} {self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
