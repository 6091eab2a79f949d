"""Every fenced block of README.md and docs/*.md is run or checked, so the docs cannot drift.

README.md ("Docs are tested") tells docs authors the convention.
Each block runs on its own, in a fresh folder holding a copy of ``examples/`` (the docs write
paths as seen from a checkout), with every ``${NAME}`` the block names without a default set to
a placeholder. By the fence's info string:

- ``toml``: parsed, then checked as an agent.toml (``name`` added when the block has none);
- ``python``: compiled (top-level ``await`` allowed) and executed;
- ``sh``: each line is a ``patchwire`` command run in-process, which must exit 0;
- ``console``: ``$ `` lines are commands, the lines under each its output (``...`` matches
  anything);
- ``json``: parsed.

An HTML comment right before the fence changes that: ``<!-- not-run: REASON -->`` only parses
the block (nothing for languages without a parser); ``<!-- fragment: REASON -->`` on a Python
block compiles it and runs its imports only. A block the test cannot run and no marker explains
fails the test, so nothing is skipped silently.
"""

from __future__ import annotations

import ast
import asyncio
import doctest
import inspect
import json
import os
import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from patchwire import ConfigError, check, load_config
from patchwire.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"<!--\s*(not-run|fragment):\s*(\S.*?)\s*-->\s*$", re.DOTALL)
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}`` without a default: what the block expects the reader to have set."""
PATCHWIRE = {"patchwire", ".venv/bin/patchwire"}
PLACEHOLDER = "docs-placeholder-0123456789abcdef0123456789"
"""Long enough for the secrets with a minimum length (32 characters for chat's encryptionKey)."""
OFFLINE = {"check", "init", "jobs", "list", "new", "typegen"}
"""The commands that finish on their own without the network (``check`` without --online)."""


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and the marker before it."""

    page: Path
    line: int
    language: str
    text: str
    marker: str | None
    reason: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` in order, each with the marker comment right before it."""
    found: list[Block] = []
    previous = None
    for token in MarkdownIt().parse(page.read_text(encoding="utf-8")):
        if token.type == "fence" and token.map is not None:
            marker = reason = None
            if previous is not None and previous.type == "html_block":
                written = MARKER.match(previous.content.strip())
                assert written, (
                    f"{page.relative_to(ROOT)}:{token.map[0] + 1}: the comment before the fence "
                    f"is not a marker: write <!-- not-run: REASON --> or <!-- fragment: REASON -->"
                )
                marker, reason = written[1], written[2]
            language = token.info.split(maxsplit=1)[0] if token.info.strip() else ""
            found.append(Block(page, token.map[0] + 1, language, token.content, marker, reason))
        previous = token
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder with a copy of examples/, as a checkout's root is to the docs."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.where for block in ALL_BLOCKS])
def test_snippet(block: Block, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLE.findall(block.text):
        monkeypatch.setenv(name, PLACEHOLDER)
    if block.language == "toml":
        check_toml(block, folder)
    elif block.language == "json":
        json.loads(block.text)
    elif block.language == "python":
        run_python(block)
    elif block.marker == "not-run":
        return
    elif block.language == "sh":
        run_shell(block)
    elif block.language == "console":
        run_console(block)
    else:
        pytest.fail(
            f"{block.where}: no way to run a {block.language or 'plain'} block: give the fence "
            f"a language the docs test runs (toml, python, sh, console, json) or mark it "
            f"<!-- not-run: REASON -->"
        )


def check_toml(block: Block, folder: Path) -> None:
    """Parse the block and, unless marked not-run, resolve it as an agent.toml."""
    parsed = tomllib.loads(block.text)
    if block.marker == "not-run":
        return
    assert block.marker is None, f"{block.where}: 'fragment' is for Python blocks"
    text = block.text if "name" in parsed else f'name = "docs-snippet"\n{block.text}'
    (folder / "agent.toml").write_text(text, encoding="utf-8")
    try:
        problems = check(load_config(folder))
    except ConfigError as error:
        problems = error.problems
    assert not problems, f"{block.where}: " + "; ".join(str(problem) for problem in problems)


def run_python(block: Block) -> None:
    """Compile the block; execute it, or only its imports when it is a fragment."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(block.text, block.where, "exec", flags=flags, dont_inherit=True)
    if block.marker == "not-run":
        return
    if block.marker == "fragment":
        tree = ast.parse(block.text)
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        code = compile(ast.Module(body=imports, type_ignores=[]), block.where, "exec")
    result = eval(code, {"__name__": "docs_snippet"})
    if inspect.iscoroutine(result):
        asyncio.run(result)


def run_shell(block: Block) -> None:
    """Run each command line; each must succeed."""
    commands = [words for line in block.text.splitlines() if (words := shlex.split(line, True))]
    for words in commands:
        runnable(block, words)
    for words in commands:
        exit_code, output = command(words)
        assert exit_code == 0, f"{block.where}: `{shlex.join(words)}` exited {exit_code}:\n{output}"


def run_console(block: Block) -> None:
    """Run each ``$ `` line and compare what it prints with the lines under it."""
    session: list[tuple[list[str], list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            session.append((runnable(block, shlex.split(line[2:], comments=True)), []))
        else:
            assert session, f"{block.where}: a console block starts with a `$ ` command line"
            session[-1][1].append(line)
    checker = doctest.OutputChecker()
    for words, expected in session:
        _, output = command(words)
        want = "".join(f"{text}\n" for text in expected)
        assert checker.check_output(want, output, doctest.ELLIPSIS), (
            f"{block.where}: `{shlex.join(words)}` printed:\n{output}\nthe docs say:\n{want}"
        )


def runnable(block: Block, words: list[str]) -> list[str]:
    """``words`` when the test can run them in-process and offline, quickly; else the failure."""
    if words[0] == "cd" and len(words) == 2:
        return words
    offline = len(words) > 1 and words[1] in OFFLINE and "--online" not in words
    if words[0] in PATCHWIRE and ("--help" in words or offline):
        return words
    pytest.fail(
        f"{block.where}: `{shlex.join(words)}` is not a command the docs test runs (patchwire "
        f"{', '.join(sorted(OFFLINE))} or --help; cd DIR): mark the block <!-- not-run: REASON -->"
    )


def command(words: list[str]) -> tuple[int, str]:
    """Run one command of a shell block in-process: ``patchwire ...`` or ``cd DIR``."""
    if words[0] == "cd":
        os.chdir(words[1])
        return 0, ""
    result = CliRunner().invoke(app, words[1:])
    return result.exit_code, result.output
