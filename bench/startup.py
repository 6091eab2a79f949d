"""Start-up cost of ``patchwire check`` as the number of installed distributions grows.

    .venv/bin/python bench/startup.py [--counts 10,100,500] [--repeats 5]

For each count, a throwaway virtual environment gets that many unrelated distributions with
entry points (plus three patchwire integrations the agent does not use). Fresh processes are
timed (median of the repeats):

- baseline: ``import pydantic`` and one scan of every entry point;
- ``patchwire check examples/support-agent``;
- stevedore's ``ExtensionManager`` over our integrations group (it imports every plugin).

It also counts the integration modules the check imported: only configured ones may be.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patchwire.testing import Distribution, ThrowawayEnvironment

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-agent"
UNUSED = ("unused-a", "unused-b", "unused-c")

BASELINE = "import pydantic; from importlib.metadata import entry_points; entry_points()"
STEVEDORE = (
    "from stevedore import ExtensionManager; "
    "ExtensionManager('patchwire.integrations', invoke_on_load=False)"
)
IMPORTED = f"""
import sys
from patchwire.cli import app
try:
    app(["check", {str(EXAMPLE)!r}])
except SystemExit:
    pass
from patchwire._discovery import installed
modules = {{r.value.split(":")[0] for r in installed().records["integration"].values() for r in r}}
print("IMPORTED", sorted(m for m in modules if m in sys.modules))
"""


def populate(environment: ThrowawayEnvironment, count: int) -> None:
    for index in range(count):
        environment.write(
            Distribution(
                name=f"unrelated-{index}",
                version="1.0.0",
                modules={f"unrelated_{index}": "VALUE = 1\n"},
                entry_points={
                    "console_scripts": {f"unrelated-{index}": f"unrelated_{index}:main"},
                    "acme.plugins": {f"p{index}": f"unrelated_{index}:VALUE"},
                },
            )
        )
    for name in UNUSED:
        module = name.replace("-", "_")
        environment.write(
            Distribution(
                name=f"acme-{name}",
                version="1.0.0",
                modules={
                    module: (
                        "from patchwire import Integration, IntegrationDefinition\n"
                        f"integration = Integration(IntegrationDefinition(name={name!r}, "
                        "version='1.0.0'))\n"
                    )
                },
                entry_points={"patchwire.integrations": {name: f"{module}:integration"}},
            )
        )


def timed(python: Path, arguments: list[str], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(python), *arguments], check=False, capture_output=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,500")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'N':>5} {'baseline ms':>12} {'check ms':>9} {'ratio':>6} "
        f"{'stevedore ms':>13} {'integration modules imported by check':>40}"
    )
    for count in (int(n) for n in args.counts.split(",")):
        with tempfile.TemporaryDirectory(prefix="pw-startup-") as root:
            environment = ThrowawayEnvironment(Path(root) / "env")
            populate(environment, count)
            python = environment.python
            check = ["-m", "patchwire.cli", "check", str(EXAMPLE)]
            result = subprocess.run([str(python), *check], capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(
                    f"check failed in the benchmark environment:\n{result.stdout}{result.stderr}"
                )
            baseline = timed(python, ["-c", BASELINE], args.repeats)
            checked = timed(python, check, args.repeats)
            stevedore = timed(python, ["-c", STEVEDORE], args.repeats)
            probe = subprocess.run(
                [str(python), "-c", IMPORTED], capture_output=True, text=True, check=True
            )
            line = next(x for x in probe.stdout.splitlines() if x.startswith("IMPORTED"))
            imported = json.loads(line.removeprefix("IMPORTED ").replace("'", '"'))
            print(
                f"{count:5d} {baseline:12.0f} {checked:9.0f} {checked / baseline:5.1f}x "
                f"{stevedore:13.0f} {', '.join(imported) or 'none':>40}"
            )


if __name__ == "__main__":
    main()
