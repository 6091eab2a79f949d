"""Discovery: which interfaces, integrations and plugins are installed, and loading them.

Entry points are scanned once per process and read as metadata (name, distribution, version);
a package's module is imported only when someone asks for that package by name. Every load
runs in its own ``try``: a broken package is recorded as a :class:`PackageFailure` and never
stops the others, even one that calls ``sys.exit()`` or raises ``KeyboardInterrupt`` while
being imported (only a Ctrl-C the user really pressed gets through).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import threading
import traceback
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from types import FrameType
from typing import Literal, TypeAlias

from pydantic import ValidationError

from patchwire._definitions import IntegrationDefinition, InterfaceDefinition, PluginDefinition
from patchwire._errors import PackageLoadError, PatchwireError, format_validation_error
from patchwire._packages import Integration, Plugin

__all__ = [
    "GROUPS",
    "Catalog",
    "DuplicatePackageError",
    "EntryPointRecord",
    "Kind",
    "PackageFailure",
    "PackageNotFoundError",
    "installed",
]

logger = logging.getLogger("patchwire")

Kind: TypeAlias = Literal["interface", "integration", "plugin"]

GROUPS: dict[Kind, str] = {
    "interface": "patchwire.interfaces",
    "integration": "patchwire.integrations",
    "plugin": "patchwire.plugins",
}

STRICT_ENV = "PATCHWIRE_STRICT_LOADING"
"""Set to 1 to re-raise load failures instead of recording them (for package authors' CI)."""

Loaded: TypeAlias = InterfaceDefinition | Integration | Plugin


@dataclass(frozen=True)
class EntryPointRecord:
    """One entry point as metadata: what it is, where it points, who ships it."""

    kind: Kind
    name: str
    value: str
    distribution: str
    version: str

    @property
    def pin(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class PackageFailure:
    """A package that could not be loaded, and why."""

    kind: Kind
    name: str
    distribution: str
    version: str
    reason: str


class PackageNotFoundError(PatchwireError, LookupError):
    def __init__(self, kind: Kind, name: str, available: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        super().__init__(
            f"no installed {kind} is named {name!r} "
            f"(installed: {', '.join(self.available) or 'none'})"
        )


class DuplicatePackageError(PatchwireError, LookupError):
    def __init__(self, kind: Kind, name: str, records: list[EntryPointRecord]) -> None:
        self.kind = kind
        self.name = name
        self.records = records
        providers = ", ".join(f"{record.pin} ({record.value})" for record in records)
        super().__init__(
            f"{len(records)} installed distributions provide the {kind} {name!r}: {providers}; "
            "uninstall all but one"
        )


def _expected_type(kind: Kind) -> tuple[type, ...]:
    if kind == "interface":
        return (InterfaceDefinition,)
    if kind == "integration":
        return (Integration, IntegrationDefinition)
    return (Plugin, PluginDefinition)


def _package_problems(obj: object) -> list[str]:
    if isinstance(obj, Integration | Plugin):
        return obj.problems()
    return []


@dataclass
class Catalog:
    """The installed packages, by kind and name, with what failed to load."""

    records: dict[Kind, dict[str, list[EntryPointRecord]]]
    _loaded: dict[tuple[Kind, str], Loaded | IntegrationDefinition | PluginDefinition] = field(
        default_factory=dict
    )
    _failures: dict[tuple[Kind, str], PackageFailure] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[EntryPointRecord]) -> Catalog:
        grouped: dict[Kind, dict[str, list[EntryPointRecord]]] = {
            kind: defaultdict(list) for kind in GROUPS
        }
        for record in records:
            grouped[record.kind][record.name].append(record)
        return cls(records={kind: dict(by_name) for kind, by_name in grouped.items()})

    @classmethod
    def from_objects(
        cls,
        *,
        interfaces: Iterable[InterfaceDefinition] = (),
        integrations: Iterable[Integration | IntegrationDefinition] = (),
        plugins: Iterable[Plugin | PluginDefinition] = (),
    ) -> Catalog:
        """A catalog of objects given directly, for tests: nothing is installed or scanned."""
        catalog = cls.from_records([])
        items: list[tuple[Kind, object]] = [("interface", item) for item in interfaces]
        items += [("integration", item) for item in integrations]
        items += [("plugin", item) for item in plugins]
        for kind, item in items:
            definition = _definition_of(item)
            record = EntryPointRecord(
                kind=kind,
                name=definition.name,
                value=f"<object {definition.name}>",
                distribution=f"<test {definition.name}>",
                version=definition.version,
            )
            catalog.records[kind].setdefault(record.name, []).append(record)
            catalog._loaded[(kind, record.name)] = item  # type: ignore[assignment]
        return catalog

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.records[kind])

    def record(self, kind: Kind, name: str) -> EntryPointRecord:
        """The one record for ``name``; raises when it is missing or provided twice."""
        found = self.records[kind].get(name)
        if not found:
            raise PackageNotFoundError(kind, name, self.records[kind])
        if len(found) > 1:
            raise DuplicatePackageError(kind, name, found)
        return found[0]

    def duplicates(self) -> list[DuplicatePackageError]:
        return [
            DuplicatePackageError(kind, name, found)
            for kind, by_name in self.records.items()
            for name, found in sorted(by_name.items())
            if len(found) > 1
        ]

    @property
    def failures(self) -> list[PackageFailure]:
        """Packages that failed to load so far (only those someone asked for)."""
        return list(self._failures.values())

    def load(self, kind: Kind, name: str) -> object:
        """Import and validate one package; memoised, and a failure raises PackageLoadError."""
        key = (kind, name)
        if key in self._loaded:
            return self._loaded[key]
        record = self.record(kind, name)
        with _watching_ctrl_c() as pressed:
            try:
                obj = _checked(record)
            except BaseException as error:
                if pressed or os.environ.get(STRICT_ENV) == "1":
                    raise
                raise self._failed(record, error) from error
        self._failures.pop(key, None)
        self._loaded[key] = obj  # type: ignore[assignment]
        return obj

    def _failed(self, record: EntryPointRecord, error: BaseException) -> PackageLoadError:
        """Record why ``record`` cannot be loaded, and the error that says so."""
        reason = _reason(error)
        failure = PackageFailure(
            record.kind, record.name, record.distribution, record.version, reason
        )
        self._failures[(record.kind, record.name)] = failure
        logger.warning(
            "%s %r from %s cannot be loaded: %s (upgrade or uninstall %s)",
            record.kind,
            record.name,
            record.pin,
            reason,
            record.distribution,
        )
        logger.debug("traceback of the failure:\n%s", traceback.format_exc())
        return PackageLoadError(
            kind=record.kind,
            name=record.name,
            distribution=record.distribution,
            version=record.version,
            reason=reason,
        )

    def load_all(self) -> None:
        """Load every installed package, recording failures (for ``patchwire list``)."""
        for kind in GROUPS:
            for name, found in self.records[kind].items():
                if len(found) == 1:
                    with contextlib.suppress(PackageLoadError):
                        self.load(kind, name)


def _checked(record: EntryPointRecord) -> object:
    """The object an entry point names, once it is the kind of package its group promises."""
    obj = _import(record.value)
    expected = _expected_type(record.kind)
    if not isinstance(obj, expected):
        names = " or ".join(t.__name__ for t in expected)
        raise PatchwireError(
            f"entry point {record.value!r} is a {type(obj).__name__}, not a {names}"
        )
    definition = _definition_of(obj)
    if definition.name != record.name:
        raise PatchwireError(
            f"entry point is named {record.name!r} but its definition is named "
            f"{definition.name!r}; the two must match"
        )
    problems = _package_problems(obj)
    if problems:
        raise PatchwireError("; ".join(problems))
    return obj


@contextlib.contextmanager
def _watching_ctrl_c() -> Iterator[list[bool]]:
    """Whether a real Ctrl-C (SIGINT) arrived while the body ran: a non-empty list if so.

    A ``KeyboardInterrupt`` a package raises itself is a broken package; one from the user
    must stop the program as usual. Signals reach the main thread only; elsewhere none can.
    A handler installed from outside Python cannot be restored, so it is left alone.
    """
    pressed: list[bool] = []
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        yield pressed
        return

    def note(signum: int, frame: FrameType | None) -> None:
        pressed.append(True)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _definition_of(obj: object) -> InterfaceDefinition | IntegrationDefinition | PluginDefinition:
    if isinstance(obj, Integration | Plugin):
        return obj.definition
    if isinstance(obj, InterfaceDefinition | IntegrationDefinition | PluginDefinition):
        return obj
    raise PatchwireError(f"{type(obj).__name__} is not a patchwire package object")


def _import(value: str) -> object:
    module_name, _, attribute = value.partition(":")
    obj: object = importlib.import_module(module_name.strip())
    for part in attribute.strip().split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj


def _reason(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return f"invalid definition: {format_validation_error(error)}"
    text = str(error).strip().splitlines()
    summary = text[0] if text else ""
    return f"{type(error).__name__}: {summary}" if summary else type(error).__name__


def scan_entry_points() -> list[EntryPointRecord]:
    """Read our three entry point groups from one scan of the installed distributions."""
    from importlib.metadata import entry_points

    everything = entry_points()
    records = []
    for kind, group in GROUPS.items():
        for entry_point in everything.select(group=group):
            dist = entry_point.dist
            records.append(
                EntryPointRecord(
                    kind=kind,
                    name=entry_point.name,
                    value=entry_point.value,
                    distribution=dist.name if dist is not None else "<unknown>",
                    version=dist.version if dist is not None else "0",
                )
            )
    return records


@cache
def installed() -> Catalog:
    """The catalog of this process's installed packages (scanned once)."""
    return Catalog.from_records(scan_entry_points())
