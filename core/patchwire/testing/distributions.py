"""Throwaway distributions in throwaway virtual environments.

For tests that must see what a user's machine sees: a package installed after the fact, a
package whose import raises, two packages claiming one name. The environment reuses the
packages of the interpreter running the tests (nothing is downloaded) and installs the
throwaway ones for real, with pip, or writes their ``.dist-info`` directly when hundreds are
needed quickly (``importlib.metadata`` reads exactly what an installer leaves).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Distribution", "ThrowawayEnvironment"]


@dataclass(frozen=True)
class Distribution:
    """A distribution to build: modules by dotted name, entry points by group and name."""

    name: str
    version: str = "0.1.0"
    modules: dict[str, str] = field(default_factory=dict)
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def normalised(self) -> str:
        return self.name.replace("-", "_").lower()

    def entry_points_txt(self) -> str:
        sections = []
        for group, entries in self.entry_points.items():
            lines = [f"[{group}]", *(f"{name} = {value}" for name, value in entries.items())]
            sections.append("\n".join(lines))
        return "\n\n".join(sections) + "\n"

    def write_modules(self, root: Path) -> None:
        """Each module as a package (``a`` is ``a/__init__.py``, ``a.b`` is ``a/b/__init__.py``)."""
        for module, code in self.modules.items():
            path = root.joinpath(*module.split("."), "__init__.py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(code))

    def pyproject(self) -> str:
        packages = sorted({module.split(".")[0] for module in self.modules})
        text = f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{self.name}"
            version = "{self.version}"

            [tool.hatch.build.targets.wheel]
            packages = {packages!r}
            """
        groups = "".join(
            f'\n[project.entry-points."{group}"]\n'
            + "".join(f'"{name}" = "{value}"\n' for name, value in entries.items())
            for group, entries in self.entry_points.items()
        )
        return textwrap.dedent(text) + groups


class ThrowawayEnvironment:
    """A virtual environment in ``root`` that sees this interpreter's packages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = root / "bin" / "python"
        self.site_packages = Path(
            subprocess.run(
                [
                    str(self.python),
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        parent = sysconfig.get_paths()["purelib"]
        (self.site_packages / "_parent_environment.pth").write_text(
            f"import site; site.addsitedir({parent!r})\n"
        )

    def _pip(self, *arguments: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "--quiet", *arguments],
            check=True,
            capture_output=True,
        )

    def build_wheel(self, distribution: Distribution, directory: Path) -> Path:
        """Build ``distribution`` as a wheel in ``directory`` with hatchling."""
        source = directory / f"src-{distribution.normalised}-{distribution.version}"
        distribution.write_modules(source)
        (source / "pyproject.toml").write_text(distribution.pyproject())
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-build-isolation",
                "--no-deps",
                "--wheel-dir",
                str(directory),
                str(source),
            ],
            check=True,
            capture_output=True,
        )
        return next(directory.glob(f"{distribution.normalised}-{distribution.version}-*.whl"))

    def install(self, wheel: Path) -> None:
        self._pip("install", "--no-deps", "--no-index", str(wheel))

    def uninstall(self, name: str) -> None:
        self._pip("uninstall", "--yes", name)

    def write(self, distribution: Distribution) -> None:
        """Place ``distribution`` as an installer would, without building anything."""
        distribution.write_modules(self.site_packages)
        info = self.site_packages / f"{distribution.normalised}-{distribution.version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution.name}\nVersion: {distribution.version}\n"
        )
        (info / "entry_points.txt").write_text(distribution.entry_points_txt())
        (info / "RECORD").write_text("")
        (info / "INSTALLER").write_text("patchwire.testing\n")

    def run(self, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -m patchwire.cli ...`` inside the environment."""
        return subprocess.run(
            [str(self.python), "-m", "patchwire.cli", *arguments],
            capture_output=True,
            text=True,
            cwd=cwd,
        )
