from __future__ import annotations

import signal
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchwire import (
    Catalog,
    DuplicatePackageError,
    EntryPointRecord,
    Integration,
    IntegrationDefinition,
    PackageLoadError,
    PackageNotFoundError,
)
from patchwire._discovery import installed


@pytest.fixture
def module() -> Iterator[types.ModuleType]:
    fake = types.ModuleType("pw_fake_package")
    fake.good = Integration(IntegrationDefinition(name="good", version="1.0.0"))  # type: ignore[attr-defined]
    fake.wrong_type = 42  # type: ignore[attr-defined]
    fake.misnamed = Integration(IntegrationDefinition(name="other", version="1.0.0"))  # type: ignore[attr-defined]
    sys.modules[fake.__name__] = fake
    yield fake
    del sys.modules[fake.__name__]


def record(name: str, attribute: str, distribution: str = "acme") -> EntryPointRecord:
    return EntryPointRecord(
        "integration", name, f"pw_fake_package:{attribute}", distribution, "1.2.3"
    )


def test_load_is_memoised(module: types.ModuleType) -> None:
    catalog = Catalog.from_records([record("good", "good")])
    assert catalog.load("integration", "good") is module.good
    assert catalog.load("integration", "good") is catalog.load("integration", "good")


@pytest.mark.parametrize(
    ("attribute", "reason"),
    [
        ("wrong_type", "is a int, not a Integration or IntegrationDefinition"),
        ("misnamed", "entry point is named 'good' but its definition is named 'other'"),
        ("missing", "AttributeError"),
    ],
)
def test_failures_are_recorded_with_the_distribution(
    module: types.ModuleType, attribute: str, reason: str
) -> None:
    catalog = Catalog.from_records([record("good", attribute)])
    with pytest.raises(PackageLoadError, match=r"from acme==1\.2\.3 cannot be loaded") as raised:
        catalog.load("integration", "good")
    assert reason in raised.value.reason
    [failure] = catalog.failures
    assert (failure.distribution, failure.version, failure.name) == ("acme", "1.2.3", "good")


def test_strict_mode_re_raises(module: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHWIRE_STRICT_LOADING", "1")
    with pytest.raises(AttributeError):
        Catalog.from_records([record("good", "missing")]).load("integration", "good")


def test_load_all_keeps_going_past_broken_packages(module: types.ModuleType) -> None:
    catalog = Catalog.from_records([record("good", "good"), record("bad", "wrong_type")])
    catalog.load_all()
    assert [f.name for f in catalog.failures] == ["bad"]
    assert catalog.load("integration", "good") is module.good


def test_missing_and_duplicate_names() -> None:
    catalog = Catalog.from_records(
        [record("twin", "good", "acme-a"), record("twin", "good", "acme-b")]
    )
    with pytest.raises(PackageNotFoundError, match=r"installed: twin"):
        catalog.record("integration", "nope")
    with pytest.raises(DuplicatePackageError, match=r"acme-a==1\.2\.3 .*acme-b==1\.2\.3"):
        catalog.record("integration", "twin")
    assert [error.name for error in catalog.duplicates()] == ["twin"]


def test_from_objects_needs_nothing_installed() -> None:
    package = Integration(IntegrationDefinition(name="inline", version="0.3.0"))
    catalog = Catalog.from_objects(integrations=[package])
    assert catalog.load("integration", "inline") is package
    assert catalog.record("integration", "inline").version == "0.3.0"


def test_the_installed_scan_happens_once_per_process() -> None:
    assert installed() is installed()
    assert "hitl" in installed().names("interface")


@pytest.fixture
def importing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Catalog]:
    """A catalog of one integration whose module runs ``code`` when it is imported."""

    def catalog(code: str) -> Catalog:
        name = f"pw_importing_{len(list(tmp_path.iterdir()))}"
        (tmp_path / f"{name}.py").write_text(code)
        return Catalog.from_records(
            [EntryPointRecord("integration", "odd", f"{name}:integration", "acme-odd", "1.0.0")]
        )

    monkeypatch.syspath_prepend(str(tmp_path))
    return catalog


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
        ("import sys\nsys.exit()\n", "SystemExit"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        ("raise BaseException('no more')\n", "BaseException: no more"),
    ],
)
def test_a_package_raising_a_base_exception_at_import_is_broken_not_fatal(
    importing: Callable[[str], Catalog], code: str, reason: str
) -> None:
    catalog = importing(code)
    with pytest.raises(PackageLoadError) as raised:
        catalog.load("integration", "odd")
    assert str(raised.value) == f"integration 'odd' from acme-odd==1.0.0 cannot be loaded: {reason}"
    assert [failure.reason for failure in catalog.failures] == [reason]


def test_a_real_ctrl_c_while_importing_still_stops_the_program(
    importing: Callable[[str], Catalog],
) -> None:
    catalog = importing(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n"
    )
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        catalog.load("integration", "odd")
    assert catalog.failures == []
    assert signal.getsignal(signal.SIGINT) is handler
