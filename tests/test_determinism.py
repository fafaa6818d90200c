"""The same command twice gives bit-identical JSON reports (everything but "timing"), in float64 on
CPU: in one process, and in two fresh processes. What this needs: docs/determinism.md."""
import json
import os
import subprocess
import sys
from pathlib import Path

from compare.cli import main

REPO = Path(__file__).resolve().parent.parent
COMMAND = ["keras-quickstart", "--steps", "12", "--optimizer", "adam", "--quiet"]   # shuffled batches, Adam state


def load_without_timing(path):
    report = json.loads(Path(path).read_text())
    report.pop("timing")
    return report


def test_two_runs_in_one_process_are_identical(tmp_path, capsys):
    paths = [tmp_path / "first.json", tmp_path / "second.json"]
    for path in paths:
        assert main(COMMAND + ["--json", str(path)]) == 0, capsys.readouterr()
    first, second = (load_without_timing(p) for p in paths)
    assert first["steps"] and first["final_outputs"]
    assert first == second          # JSON floats round-trip exactly: equal here means bit-identical


def test_two_processes_are_identical(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    reports = []
    for name in ("a.json", "b.json"):
        path = tmp_path / name
        result = subprocess.run([sys.executable, "-m", "compare", *COMMAND, "--json", str(path)],
                                capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        reports.append(load_without_timing(path))
    assert reports[0] == reports[1]
