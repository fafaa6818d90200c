"""The README's user files run as written: every ```python block that starts with `# file: NAME`
is saved under that name, and the `python -m compare check NAME ...` line of the ```sh block
after it is run; its exit code must be the one the line's comment states."""
import re
import shlex
from pathlib import Path

import pytest

from compare.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```python\n# file: (?P<name>\S+)\n(?P<code>.*?)```\s*```sh\n(?P<command>python -m compare check .*?)\n```",
                   re.S)


def user_files():
    found = [(m["name"], m["code"], m["command"]) for m in BLOCK.finditer(README.read_text())]
    assert len(found) >= 3, "the README lost its 'Check your own network' examples"
    return found


@pytest.mark.parametrize("name, code, command", user_files(), ids=[f[0] for f in user_files()])
def test_readme_user_file_runs_as_written(name, code, command, tmp_path, monkeypatch, capsys, mnist_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRAMEWORK_MIRROR_MNIST", str(mnist_dir))
    (tmp_path / name).write_text(code)
    words, _, comment = command.partition("#")
    expected = int(re.search(r"exit (\d)", comment)[1])
    argv = shlex.split(words)[3:]                                  # after 'python -m compare'
    code_ = main(argv + ["--quiet"])
    out, err = capsys.readouterr()
    assert code_ == expected, f"{command}\n{out}\n{err}"
    assert "Traceback" not in out + err
    verdict = [line for line in out.strip().splitlines() if not line.startswith(" ")][-1]   # a PASS wraps: indented
    assert verdict.startswith("PASS" if expected == 0 else "MISMATCH"), verdict
