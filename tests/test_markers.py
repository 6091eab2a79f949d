"""``pytest -m postgres`` selects every test that runs on PostgreSQL, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

REPORT = """
import sys

import pytest


class Report:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            marked = item.get_closest_marker("postgres") is not None
            print("postgres" if marked else "other", item.nodeid, sep="\\t")


sys.exit(pytest.main(["--collect-only", "-qq", "-p", "no:randomly"], plugins=[Report()]))
"""

USING_POSTGRES_URL = "core/tests/server/test_app.py::test_readiness_fails_when_the_database_is_gone"
"""A test that reaches PostgreSQL through the ``postgres_url`` fixture; its name does not say so."""


def test_the_database_server_marker_is_on_every_test_that_needs_it_and_only_there() -> None:
    run = subprocess.run(
        [sys.executable, "-c", REPORT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    marks = dict(
        reversed(line.split("\t")) for line in run.stdout.splitlines() if line.count("\t") == 1
    )
    assert len(marks) > 500, f"collected only {len(marks)} tests:\n{run.stdout[-2000:]}"
    named = [test for test in marks if "postgres" in test.lower()]
    assert len(named) > 50 and all(marks[test] == "postgres" for test in named), [
        test for test in named if marks[test] != "postgres"
    ]
    sqlite = [test for test in marks if "sqlite" in test.lower()]
    assert sqlite and all(marks[test] == "other" for test in sqlite), [
        test for test in sqlite if marks[test] != "other"
    ]
    assert marks[USING_POSTGRES_URL] == "postgres"
