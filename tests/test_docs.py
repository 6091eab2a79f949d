"""Every fenced block and link of README.md and docs/*.md is run or checked: docs cannot drift.

Each block runs alone, in a fresh folder holding a copy of ``examples/`` (the docs write paths
as seen from a checkout's root), with every ``${NAME}`` it names without a default set to a
placeholder; how each language is run and the ``not-run`` / ``fragment`` markers are in
README.md, "Docs are tested". A block this cannot run and no marker explains fails.
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
MARKER = re.compile(r"<!--\s*(not-run|fragment):\s*\S.*-->$", re.DOTALL)
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}`` without a default: what the block expects the reader to have set."""
PATCHWIRE = {"patchwire", ".venv/bin/patchwire"}
PLACEHOLDER = "docs-placeholder-0123456789abcdef0123456789"
"""Long enough for the secrets with a minimum length (32 characters for chat's encryptionKey)."""
OFFLINE = {"check", "init", "jobs", "list", "new", "typegen"}
"""The commands that finish on their own without the network (``check`` without --online)."""


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is (``page:line``), its language, its text, its marker."""

    where: str
    language: str
    text: str
    marker: str | None


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` in order, each with the marker comment right before it."""
    name = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
    found: list[Block] = []
    previous = None
    for token in MarkdownIt().parse(page.read_text(encoding="utf-8")):
        if token.type == "fence" and token.map is not None:
            where = f"{name}:{token.map[0] + 1}"
            marker = None
            if previous is not None and previous.type == "html_block":
                written = MARKER.match(previous.content.strip())
                assert written, (
                    f"{where}: the comment before the fence is not a marker: write "
                    f"<!-- not-run: REASON --> or <!-- fragment: REASON -->"
                )
                marker = written[1]
            language = token.info.split(maxsplit=1)[0] if token.info.strip() else ""
            found.append(Block(where, language, token.content, marker))
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
    # Every variable the block writes, and the one the `openai:` model shorthand reads unwritten.
    for name in [*VARIABLE.findall(block.text), "OPENAI_API_KEY"]:
        monkeypatch.setenv(name, PLACEHOLDER)
    run_block(block, folder)


def run_block(block: Block, folder: Path) -> None:
    """Run or check one block as its language and marker say; fail on one it cannot run."""
    if block.marker == "fragment" and block.language != "python":
        pytest.fail(f"{block.where}: the fragment marker is for Python blocks; use not-run")
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


def test_a_block_it_cannot_run_fails_unless_a_marker_says_why(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```ts\nlet x = 1;\n```\n\n<!-- not-run: TypeScript -->\n```ts\nlet y = 2;\n```\n\n"
        "```sh\npatchwire dev my-agent\n```\n\n```python\nprint(undefined_name)\n```\n"
    )
    unmarked_ts, marked_ts, server, python = blocks(page)
    assert marked_ts.marker == "not-run" and unmarked_ts.marker is None
    run_block(marked_ts, tmp_path)
    with pytest.raises(pytest.fail.Exception, match="no way to run a ts block"):
        run_block(unmarked_ts, tmp_path)
    with pytest.raises(pytest.fail.Exception, match="`patchwire dev my-agent` is not a command"):
        run_block(server, tmp_path)
    with pytest.raises(NameError):
        run_block(python, tmp_path)


def test_a_comment_before_a_fence_must_be_a_marker_with_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- not-run: -->\n```ts\nlet x = 1;\n```\n")
    with pytest.raises(AssertionError, match=r"page\.md:2: the comment before the fence"):
        blocks(page)


def anchors(page: Path) -> set[str]:
    """The ``#fragment`` names GitHub gives the headings of ``page``."""
    tokens = MarkdownIt().parse(page.read_text(encoding="utf-8"))
    titles = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    return {re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for title in titles}


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_links(page: Path) -> None:
    """Every link to a file of the repository, and to a heading, finds it."""
    broken = []
    for token in MarkdownIt().parse(page.read_text(encoding="utf-8")):
        for link in token.children or []:
            href = str(link.attrs.get("href", "")) if link.type == "link_open" else ""
            if not href or re.match(r"[a-z]+:", href):
                continue
            path, _, fragment = href.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.exists() or not target.is_relative_to(ROOT):
                broken.append(f"{href}: no such file in the repository")
            elif fragment and target.suffix == ".md" and fragment not in anchors(target):
                broken.append(f"{href}: {target.name} has no heading #{fragment}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
