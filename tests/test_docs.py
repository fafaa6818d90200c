"""The documentation site (mkdocs.yml, docs/) builds with `mkdocs build --strict`, and the strict
build is what catches a broken page: a link to a missing page, a link to a heading that is not
there, a page left out of the nav each fail it. (tests/test_readme.py runs the pages' examples.)"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra: pip install -c constraints.txt -e '.[docs]'")

REPO = Path(__file__).resolve().parent.parent


def build(config, site):
    """`python -m mkdocs build --strict` of `config` into `site`. -> CompletedProcess"""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
               "--site-dir", str(site)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_site_builds_strictly(tmp_path):
    result = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    home = (tmp_path / "site" / "index.html").read_text()
    assert "framework-mirror" in home and 'href="check-your-network/"' in home
    pages = sorted(path.stem for path in (REPO / "docs").glob("*.md"))
    assert len(pages) >= 20
    for page in pages:                      # every page became a page of the site
        folder = tmp_path / "site" / ("" if page == "index" else page)
        assert (folder / "index.html").is_file(), page
    command_line = (tmp_path / "site" / "command-line" / "index.html").read_text()
    assert "<table>" in command_line and "--inject-bug" in command_line


@pytest.mark.parametrize("mistake, named", [
    ("[the install page](instal.md)", "instal.md"),             # a page that is not there
    ("[the extras](install.md#the-extra)", "the-extra"),        # a heading that is not there
    (None, "stray.md"),                                         # a page left out of the nav
])
def test_a_broken_page_fails_the_strict_build(tmp_path, mistake, named):
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    if mistake is None:
        (tmp_path / "docs" / "stray.md").write_text("# A page nobody links to\n")
    else:
        index = tmp_path / "docs" / "index.md"
        index.write_text(index.read_text() + f"\nSee {mistake}.\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0, result.stderr
    assert "WARNING" in result.stderr and named in result.stderr, result.stderr
    said = result.stdout + result.stderr
    assert "Aborted with" in said and "strict mode" in said, said
