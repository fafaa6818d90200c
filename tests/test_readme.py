"""The README's and the docs pages' code blocks run as written. Every fenced block is marked, in an
HTML comment on the line before it, with what the suite does with it:

    <!-- test: file -->          a user file: its first line is `# file: NAME`; saved under NAME in
                                 the page's folder (a fresh folder per test), where its commands run
    <!-- test: python -->        a Python snippet: run as written in the page's folder, the
                                 page's user files importable
    <!-- test: commands -->      each line is `python -m compare ARGS   # exit N ...`: run
                                 in-process; its exit code must be N (0 where none is named)
    <!-- test: output -->        what the last line of the commands block before it prints: the
                                 text, whitespace normalized (a line the tool wraps reads the
                                 same), must appear in the output, `...` standing for anything
    <!-- test: skip REASON -->   not run; REASON says why (a long run another test makes, ...)

A block without a mark fails `test_every_block_is_marked`, so none is skipped silently.
"""
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from compare.cli import main

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"<!-- test: (?P<kind>\S+)(?P<reason>[^>]*?)\s*-->[ \t]*\n\s*\Z")
KINDS = {"file": "python", "python": "python", "commands": "sh", "output": "", "skip": None}
COMMAND = re.compile(r"python -m compare (?P<args>[^#]*?)\s*(?:#(?P<comment>.*))?$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int            # the line of the opening fence, from 1
    lang: str
    body: str
    kind: str | None     # None: no mark
    reason: str

    @property
    def where(self):
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page):
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[max(0, match.start() - 400):match.start()]
        mark = MARK.search(before)
        line = text.count("\n", 0, match.start()) + 1
        kind, reason = (mark["kind"], mark["reason"].strip()) if mark else (None, "")
        found.append(Block(page, line, match["lang"].strip(), match["body"], kind, reason))
    return found


ALL = [block for page in PAGES for block in blocks(page)]


def user_files(page):
    """{name: code} of the page's `test: file` blocks."""
    files = {}
    for block in blocks(page):
        if block.kind == "file":
            name = re.match(r"# file: (\S+)\n", block.body)[1]
            files[name] = block.body
    return files


def commands():
    """(block, command line, output block or None) for every line of every commands block."""
    found = []
    for page in PAGES:
        page_blocks = blocks(page)
        for i, block in enumerate(page_blocks):
            if block.kind != "commands":
                continue
            lines = [line for line in block.body.splitlines() if line.strip()]
            following = page_blocks[i + 1] if i + 1 < len(page_blocks) else None
            output = following if following is not None and following.kind == "output" else None
            for j, line in enumerate(lines):
                found.append((block, line, output if j == len(lines) - 1 else None))
    return found


def normalized(text):
    return " ".join(text.split())


def test_every_block_is_marked():
    """Each fenced block says what is done with it, in a way the suite checks: a kind it knows, on
    the block's language; a reason for a skip; a file named on its first line; output after
    commands."""
    assert len(ALL) >= 30, "the pages lost their examples"
    for page in PAGES:
        page_blocks = blocks(page)
        for i, block in enumerate(page_blocks):
            where = block.where
            assert block.kind is not None, f"{where}: ```{block.lang} without <!-- test: ... -->"
            assert block.kind in KINDS, f"{block.where}: unknown mark 'test: {block.kind}'"
            if block.kind == "skip":
                assert len(block.reason) >= 10, f"{block.where}: a skip says why"
                continue
            assert block.lang == KINDS[block.kind], f"{where}: {block.kind} on ```{block.lang}"
            if block.kind == "file":
                assert re.match(r"# file: \S+\.py\n", block.body), f"{where}: no '# file: NAME'"
            if block.kind == "commands":
                for line in block.body.splitlines():
                    assert not line.strip() or COMMAND.match(line), f"{where}: not compare: {line}"
            if block.kind == "output":
                assert i > 0 and page_blocks[i - 1].kind == "commands", f"{where}: output of what?"
    kinds = [block.kind for block in ALL]
    assert kinds.count("file") >= 5 and kinds.count("python") >= 5, kinds
    assert kinds.count("commands") >= 10, kinds


def test_no_code_block_escapes_the_marks():
    """Every code block Markdown renders is a fenced one the marks cover: an indented block (four
    spaces) would be a code block no mark could reach."""
    markdown = pytest.importorskip("markdown", reason="the docs extra: pip install -e '.[docs]'")
    for page in PAGES:
        html = markdown.markdown(page.read_text(), extensions=["fenced_code", "tables"])
        assert html.count("<pre><code") == len(blocks(page)), f"{page}: a code block not fenced"


def test_the_readme_shows_a_user_file_its_command_and_its_mismatch():
    readme = blocks(REPO / "README.md")
    kinds = [block.kind for block in readme]
    assert "file" in kinds and "output" in kinds
    output = next(block for block in readme if block.kind == "output")
    assert output.body.startswith("MISMATCH: first divergence at step 1"), output.body


def test_the_readme_is_short_and_sends_the_rest_to_docs():
    """A newcomer's five minutes: at most 12 KB, and the sections a newcomer looks for."""
    text = (REPO / "README.md").read_text()
    assert len(text.encode()) <= 12 * 1024, len(text.encode())
    headings = re.findall(r"^## (.+)$", text, re.M)
    for wanted in ("Two commands", "Check your own network", "Exit codes", "What is where",
                   "Documentation"):
        assert any(heading.startswith(wanted) for heading in headings), (wanted, headings)


def test_ci_runs_the_test_command_the_readme_gives():
    """.ci/run runs the README's "set up and run the tests" line word for word."""
    readme = [block.body.strip() for block in blocks(REPO / "README.md") if "pytest" in block.body]
    assert len(readme) == 1 and readme[0].startswith("python3 -m venv .venv && "), readme
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert readme[0] in ci, f"{readme[0]!r} is not a line of .ci/run"


def test_readme_links_name_pages_that_exist():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (REPO / "README.md").read_text())
    assert len(links) >= 10, links
    for link in links:
        if not link.startswith("http"):
            assert (REPO / link).is_file(), f"README links to {link}, which does not exist"


@pytest.mark.parametrize("block, line, output", commands(),
                         ids=[f"{b.where} {c}" for b, c, _ in commands()])
def test_command_runs_as_written(block, line, output, tmp_path, monkeypatch, capsys, mnist_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAMEWORK_MIRROR_MNIST", str(mnist_dir))
    for name, code in user_files(block.page).items():
        (tmp_path / name).write_text(code)
    match = COMMAND.match(line)
    stated = re.search(r"exit (\d+)", match["comment"] or "")
    expected = int(stated[1]) if stated else 0
    code = main(shlex.split(match["args"]))
    out, err = capsys.readouterr()
    assert code == expected, f"{block.where}: {line}\n{out[-3000:]}\n{err[-3000:]}"
    assert "Traceback" not in out + err
    if output is not None:
        printed = normalized(out)
        at = 0
        for fragment in filter(None, (f.strip() for f in normalized(output.body).split("..."))):
            found = printed.find(fragment, at)
            assert found >= 0, f"{output.where}: `{line}` did not print {fragment!r}\n{out[-3000:]}"
            at = found + len(fragment)


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "python"], ids=lambda b: b.where)
def test_python_snippet_runs_as_written(block, tmp_path, monkeypatch, mnist_dir):
    from compare.engine import registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAMEWORK_MIRROR_MNIST", str(mnist_dir))
    monkeypatch.syspath_prepend(str(tmp_path))
    files = user_files(block.page)
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    registered = dict(registry.REGISTRY)
    try:
        exec(compile(block.body, block.where, "exec"), {"__name__": "__main__"})
    finally:
        registry.REGISTRY.clear()
        registry.REGISTRY.update(registered)
        for name in files:
            sys.modules.pop(name.removesuffix(".py"), None)
