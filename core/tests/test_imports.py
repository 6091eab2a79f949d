"""What importing patchwire costs a process that does not use it all: the OpenAI SDK (about
0.5 s) and alembic (about 0.15 s) are imported by the first call that needs them, not by every
CLI command, test and agent without a model."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["patchwire", "patchwire.server", "patchwire.cli"])
def test_importing_patchwire_leaves_the_model_sdk_and_migrations_unimported(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        "print(','.join(name for name in ('openai', 'alembic') if name in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert loaded == "", f"importing {module} imported {loaded}"
