"""Security and files (issue 18): user strings never become markup, report paths do not move with
the user's os.chdir, no report is written through another user's symlink in a sticky folder, no
old report outlives a run that failed before writing, and MNIST files are all checked against
their canonical SHA-256s, compressed or not (--allow-other-data runs on others, and says so).

Fast: the user's network is numpy only (checked against scratch); the two subprocesses import
neither torch nor TensorFlow.
"""
import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from compare.adapters.check import check, declared, load_file
from compare.cli import main
from compare.data import mnist_data, recipes
from compare.data.mnist_data import DataMismatch, load_mnist
from compare.engine.errors import InputError
from compare.views import files, html as html_view, tables
from compare.views.files import check_targets, write_atomic
from compare.views.text import logical_lines

REPO = Path(__file__).resolve().parent.parent
# No '/', '~', '@' or ',' in it: it is also an implementation's name, and those are reserved for the
# report's keys (compare/engine/registry.py); an unclosed <script> is live markup all the same.
HOSTILE = """<script>alert(1)<script><img src=x onerror=alert(2)>"' onmouseover="alert(3)" &amp;<!--"""
BENIGN = "plainname"
OTHER_UID = 4242                    # "another user": the tests run as root, which may lchown to anyone

# A 2-3-1 sigmoid network for the xor recipe, in a learner's NumPy (examples/xor_dict.py's form).
USER_FILE = '''
import os
import numpy as np
import compare

{prelude}

def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def forward(X, parameters):
    {in_forward}
    Z1 = np.dot(parameters["W1"], X) + parameters["b1"]
    A1 = sigmoid(Z1)
    Z2 = np.dot(parameters["W2"], A1) + parameters["b2"]
    A2 = sigmoid(Z2)
    return A2, {{"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}}


def backward(parameters, cache, X, Y):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = np.dot(dZ2, A1.T) / m {dW2_bug}
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(parameters["W2"].T, dZ2) * A1 * (1 - A1)
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {{"dZ1": dZ1, "dW1": dW1, "db1": db1, "dZ2": dZ2, "dW2": dW2, "db2": db2}}


def update_parameters(parameters, grads, learning_rate):
    return {{name: parameters[name] - learning_rate * grads["d" + name] for name in parameters}}


mine = compare.functions(forward, backward, update_parameters, forward_args="X params",
                         forward_returns="A2 cache", backward_args="params cache X Y", backward_returns="grads",
                         update_args="params grads lr", update_returns="params", name={name!r})
'''


def user_file(folder, name, prelude="", in_forward="pass", dW2_bug=""):
    path = Path(folder) / "user_net.py"
    path.write_text(USER_FILE.format(name=name, prelude=prelude, in_forward=in_forward, dW2_bug=dW2_bug))
    return path


def subprocess_env(**extra):
    return dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", **extra)


# --- 1. user strings never become markup ---------------------------------------------------------

class Markup(HTMLParser):
    """Every element and attribute of a page, and its text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text = Counter(), Counter(), []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.tags["<!--"] += 1


def parsed(page):
    markup = Markup()
    markup.feed(page)
    markup.close()
    return markup


def hostile_reports(tmp_path, name):
    """Two real check reports of a user's implementation called `name` (a divergence in dW2, and
    an exception raised in its forward whose message is `name`), then every other user-controlled
    string of the report set to `name` too: the recipe, the notes and origin, the file and line of
    the error, the tensor in the user's words, the data folder."""
    recipe = recipes.get("xor")
    data = recipe.load()
    reports = []
    for variant in (dict(dW2_bug="* 1.5"), dict(in_forward=f"raise ValueError({name!r})")):
        folder = tmp_path / f"{name == HOSTILE}-{len(reports)}"
        folder.mkdir()
        path = user_file(folder, name, **variant)
        items = declared(load_file(str(path)), str(path))
        report = check(items, recipe=recipe, data=data, against=("scratch",), steps=2, keep_step=1)
        report.recipe = report.notes = name
        report.config["data"] = {"source": name, "origin": name}
        if report.summary["first_divergence"]:
            report.summary["first_divergence"]["user_names"] = {name: name}
        if report.summary["error"]:
            report.summary["error"].update(file=name, exception=name)
        report.environment["user"] = name
        reports.append(report)
    divergence, error = reports
    assert divergence.summary["verdict"] == "mismatch" and error.summary["verdict"] == "error"
    assert divergence.runners[0] == name and name in error.summary["error"].values()
    return reports, recipe.spec, data


def test_every_user_string_is_text_in_every_view(tmp_path, capsys):
    """The same pages built from a benign name and from HOSTILE have the same elements and the same
    attributes (nothing came from the string), and the page's text holds HOSTILE, unchanged."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("pygments")
    hostile, spec, data = hostile_reports(tmp_path, HOSTILE)
    benign, _, _ = hostile_reports(tmp_path, BENIGN)
    for bad, good in zip(hostile, benign):
        bad_page, good_page = parsed(html_view.page(bad, spec, data)), parsed(html_view.page(good, spec, data))
        assert bad_page.tags == good_page.tags and "script" not in bad_page.tags
        assert bad_page.attributes == good_page.attributes
        assert not [a for a in bad_page.attributes if a.startswith("on")]
        text, good_text = "".join(bad_page.text), "".join(good_page.text)
        shown = text.count(HOSTILE) + text.count(repr(HOSTILE))          # as itself, or in the source line quoted
        assert shown == good_text.count(BENIGN) > 5                       # whole, wherever the name is
        assert (f"({HOSTILE}):" in text) == bool(bad.raw.get("kept"))     # the worked example's heading
        # the text views show the string as it is (no markup to escape in a terminal)
        lines = "\n".join([tables.step_table(bad, 1), tables.summary_table(bad), tables.verdict_line(bad),
                           tables.outputs_table(bad) if bad.final_outputs else "", tables.notes_lines(bad.notes)])
        assert HOSTILE in lines.replace("\n", "") or HOSTILE in tables.verdict_line(bad)
        if bad.raw.get("kept"):
            from compare.views.trace import print_trace
            print_trace(recipes.get("xor"), spec, bad.raw["kept"], bad.raw["keys"], 1, None, True)
            assert HOSTILE in capsys.readouterr().out
        from compare.views.plots import figure
        import matplotlib.pyplot as plt
        fig = figure(bad)
        labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert HOSTILE in labels and HOSTILE in fig._suptitle.get_text()
        plt.close(fig)


def test_tables_in_pages_use_the_escaping_format():
    """html.py relies on tabulate's "html" format escaping cells and headers."""
    from tabulate import tabulate
    page = parsed(tabulate([[HOSTILE]], headers=[HOSTILE], tablefmt="html"))
    assert set(page.tags) == {"table", "thead", "tbody", "tr", "th", "td"}
    assert [t.strip() for t in page.text if t.strip()] == [HOSTILE, HOSTILE]


# --- 1 and 2 through the command line: a hostile name, and a user file that calls os.chdir ------

def test_cli_hostile_name_and_chdir_keep_the_reports_where_asked(tmp_path):
    """The user's file changes the folder at import and inside every forward; the reports, named
    relative to where the command started, are written there, and the page has no live markup."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("pygments")
    start, elsewhere, code = tmp_path / "start", tmp_path / "elsewhere", tmp_path / "code"
    for folder in (start, elsewhere, code):
        folder.mkdir()
    path = user_file(code, HOSTILE, prelude=f"os.chdir({str(elsewhere)!r})",
                     in_forward=f"os.chdir({str(elsewhere / 'deeper')!r}) if os.path.isdir({str(elsewhere / 'deeper')!r}) else os.mkdir({str(elsewhere / 'deeper')!r})")
    result = subprocess.run([sys.executable, "-m", "compare", "check", str(path), "--recipe", "xor", "--steps", "2",
                             "--against", "scratch", "--json", "r.json", "--html", "r.html", "--plot", "r.png",
                             "--quiet"], capture_output=True, text=True, env=subprocess_env(), cwd=start, timeout=120)
    assert result.returncode == 0, result.stderr
    verdict = " ".join(line.strip() for line in result.stdout.splitlines())     # wrapped at 100 columns
    assert result.stdout.startswith("PASS: ") and HOSTILE in verdict
    assert sorted(p.name for p in start.iterdir()) == ["r.html", "r.json", "r.png"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["deeper"] and not list((elsewhere / "deeper").iterdir())
    assert json.loads((start / "r.json").read_text())["runners"][0] == HOSTILE
    page = parsed((start / "r.html").read_text())
    assert "script" not in page.tags and page.tags["img"] == 1 + page.tags["figure"]  # the plot, heatmaps
    assert not [a for a in page.attributes if a.startswith("on")] and "<!--" not in page.tags
    assert HOSTILE in "".join(page.text)


def test_report_paths_are_absolute_when_read(tmp_path, monkeypatch):
    from compare.cli.check import parser
    monkeypatch.chdir(tmp_path)
    args = parser().parse_args(["f.py", "--json", "r.json", "--plot", "sub/../p.png", "--data-dir", "d"])
    assert (args.json, args.plot, args.html) == (str(tmp_path / "r.json"), str(tmp_path / "p.png"), None)
    assert args.data_dir == str(tmp_path / "d")
    assert files.absolute("-") == "-" and files.absolute("") == "" and files.absolute(None) is None


# --- 3. symlinks in a sticky, world-writable folder -------------------------------------------

@pytest.fixture
def sticky(tmp_path):
    """A folder like /tmp (mode 1777, owned by root) and a victim's file outside it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give a symlink to another user (os.lchown)")
    folder = tmp_path / "tmp"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("the victim's data")
    return folder, victim


def plant(folder, name, target, uid):
    link = folder / name
    link.symlink_to(target)
    os.lchown(link, uid, uid)
    return link


def test_symlink_of_another_user_in_a_sticky_folder_is_refused(sticky, capsys):
    folder, victim = sticky
    link = plant(folder, "report.json", victim / "precious.txt", OTHER_UID)
    expected = (f"error: --json {link}: {link} is a symlink in a sticky, world-writable folder, owned by another "
                f"user (uid {OTHER_UID}): not followed (the kernel's protected_symlinks rule); give another name\n")
    assert main(["toy3", "--frameworks", "scratch,torch", "--steps", "1", "--quiet", "--json", str(link)]) == 2
    assert logical_lines(capsys.readouterr().err) == [expected.rstrip("\n")]
    with pytest.raises(InputError, match="owned by another user"):             # the writer itself, too
        write_atomic(str(link), lambda f: f.write("{}"))
    assert (victim / "precious.txt").read_text() == "the victim's data" and link.is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["report.json"]         # no temporary left


def test_symlinked_folder_of_another_user_is_refused_too(sticky):
    folder, victim = sticky
    plant(folder, "dir", victim, OTHER_UID)
    with pytest.raises(InputError, match=f"{folder / 'dir'} is a symlink .*uid {OTHER_UID}"):
        check_targets({"html": str(folder / "dir" / "precious.txt")})
    assert (victim / "precious.txt").read_text() == "the victim's data"


@pytest.mark.parametrize("owner", ["me", "the folder's owner"])
def test_symlinks_the_rule_allows_are_followed(sticky, owner):
    """The kernel's rule: followed when the link's owner is the follower or the folder's owner."""
    folder, victim = sticky
    if owner == "the folder's owner":
        os.chown(folder, OTHER_UID, OTHER_UID)
    link = plant(folder, "report.json", victim / "precious.txt", os.geteuid() if owner == "me" else OTHER_UID)
    check_targets({"json": str(link)})
    write_atomic(str(link), lambda f: f.write("{}"))
    assert link.is_symlink() and (victim / "precious.txt").read_text() == "{}"


def test_symlink_of_another_user_outside_a_sticky_folder_is_followed(tmp_path):
    """Not sticky, or not world-writable: only its owner could have put the link there."""
    if os.geteuid() != 0:
        pytest.skip("needs root for os.lchown")
    (tmp_path / "real.json").write_text("old")
    link = plant(tmp_path, "link.json", tmp_path / "real.json", OTHER_UID)
    os.chmod(tmp_path, 0o777)                                  # world-writable, not sticky
    write_atomic(str(link), lambda f: f.write("new"))
    assert (tmp_path / "real.json").read_text() == "new"


def test_a_file_planted_by_another_user_passes_on_no_bits_and_a_hard_link_is_not_written(sticky):
    """Another user's 0666 report.json in /tmp: ours replaces it with 0666 & ~umask, owned by us.
    A hard link to the victim's file: the rename replaces the name; the victim's file is unchanged."""
    folder, victim = sticky
    planted = folder / "report.json"
    planted.write_text("theirs")
    os.chown(planted, OTHER_UID, OTHER_UID)
    os.chmod(planted, 0o666)
    os.link(victim / "precious.txt", folder / "hard.json")
    old = os.umask(0o022)
    try:
        for name in ("report.json", "hard.json"):
            check_targets({"json": str(folder / name)})
            write_atomic(str(folder / name), lambda f: f.write("ours"))
    finally:
        os.umask(old)
    info = os.stat(planted)
    assert (info.st_uid, stat.S_IMODE(info.st_mode), planted.read_text()) == (os.geteuid(), 0o644, "ours")
    assert (victim / "precious.txt").read_text() == "the victim's data" and (folder / "hard.json").read_text() == "ours"


# --- no old report after a run that ended before writing ---------------------------------------

@pytest.mark.parametrize("failure", ["import", "data"])
def test_no_old_report_after_a_run_that_failed_first(tmp_path, capsys, failure):
    old = tmp_path / "report.json"
    old.write_text('{"verdict": "pass", "old": true}')
    if failure == "import":
        path = user_file(tmp_path, "mine", prelude="raise RuntimeError('broken at import')")
        argv = ["check", str(path), "--against", "scratch", "--recipe", "xor", "--json", str(old)]
    else:                                                       # an MNIST folder that is not there
        argv = ["trace", "mnist-small", "--frameworks", "scratch", "--data-dir", str(tmp_path / "none"),
                "--json", str(old)]
    assert main(argv) == (1 if failure == "import" else 2)     # the user's code failing is exit 1, bad data 2
    err = capsys.readouterr().err
    assert len(logical_lines(err)) == 1
    assert "broken at import" in err if failure == "import" else "does not exist" in err
    assert not old.exists()


def test_a_report_written_since_the_check_is_never_discarded(tmp_path):
    """A forked child (the supervised check) writes the report; the parent, which checked the
    target and never wrote it, must not remove the child's report when it ends."""
    old = tmp_path / "report.json"
    old.write_text("old")
    check_targets({"json": str(old)})
    pid = os.fork()
    if pid == 0:                                                # the child writes, and leaves at once
        write_atomic(str(old), lambda f: f.write("new"))
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    files.discard_unwritten()
    assert old.read_text() == "new"


def test_a_failed_write_still_keeps_the_previous_report(tmp_path):
    """Once the writing started, a failure keeps the old file (files.py: the rename never happened)."""
    old = tmp_path / "report.json"
    old.write_text("old")
    check_targets({"json": str(old)})

    def fail(f):
        raise OSError(28, "No space left on device")
    with pytest.raises(files.WriteError, match="the previous file is unchanged"):
        write_atomic(str(old), fail)
    files.discard_unwritten()
    assert old.read_text() == "old"


# --- 4. MNIST: every file checked, compressed or not -----------------------------------------

def idx_labels(labels):
    return (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels)


@pytest.fixture
def zero_labels(tmp_path, mnist_dir):
    """The canonical images (.gz) beside uncompressed IDX labels that are all 0: the run that
    'passed' at 9.9 % test accuracy."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (folder / name).symlink_to(mnist_dir / name)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_labels([0] * 60000))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(gzip.open(mnist_dir / "t10k-labels-idx1-ubyte.gz").read())
    mnist_data.parse.cache_clear()
    return folder


def test_uncompressed_canonical_files_pass_and_tampered_ones_are_refused(zero_labels, mnist_dir):
    path = zero_labels / "train-labels-idx1-ubyte"
    with pytest.raises(DataMismatch) as info:
        load_mnist(zero_labels)
    assert str(info.value) == (
        f"MNIST file {path} fails its SHA-256 check (expected 65a50cbbf4e9..., got "
        f"{mnist_data.sha256(path)[:12]}...): it is not the canonical MNIST; replace it, pass --data-dir DIR "
        f"holding the four MNIST IDX .gz files, or pass --allow-other-data (allow_other_data=True) to run on it anyway")
    m = load_mnist(zero_labels, allow_other_data=True)
    assert m.other == ("train-labels-idx1-ubyte",) and m.train_labels.max() == 0
    path.write_bytes(gzip.open(mnist_dir / "train-labels-idx1-ubyte.gz").read())   # the canonical bytes
    mnist_data.parse.cache_clear()
    m = load_mnist(zero_labels)
    assert m.other == () and m.train_labels[:3].tolist() == [5, 0, 4]
    before = os.stat(path)                            # tampered again: same size, mtime set back
    path.write_bytes(idx_labels([0] * 60000))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    mnist_data.parse.cache_clear()
    with pytest.raises(DataMismatch):                 # the digest kept for the process is not reused
        load_mnist(zero_labels)


def test_every_canonical_raw_hash_is_the_decompressed_gz(mnist_dir):
    import hashlib
    for name, expected in mnist_data.RAW_FILES.items():
        assert hashlib.sha256(gzip.open(mnist_dir / name).read()).hexdigest() == expected


PRELUDE = ("import sys; sys.argv[0] = 'compare'\n"
           "from compare.engine import registry\n"
           "registry.register(registry.Entry('mirror', ('torch', 'keras'), module='compare.implementations.scratch'))\n"
           "from compare.cli import main\n"
           "sys.exit(main(sys.argv[1:] + ['--frameworks', 'scratch,mirror']))\n")


def test_cli_refuses_other_data_unless_allowed_and_then_says_so(zero_labels, tmp_path):
    out = tmp_path / "r.json"
    argv = [sys.executable, "-c", PRELUDE, "mnist-small", "--steps", "1", "--data-dir", str(zero_labels),
            "--json", str(out), "--quiet"]
    env = subprocess_env()
    env.pop("FRAMEWORK_MIRROR_MNIST", None)
    refused = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert refused.returncode == 2 and refused.stdout == ""
    message = logical_lines(refused.stderr)     # one message, wrapped to 100 columns: joined back
    assert len(message) == 1 and message[0].startswith(
        f"error: MNIST file {zero_labels / 'train-labels-idx1-ubyte'} fails its SHA-256 check")
    assert not out.exists()
    allowed = subprocess.run(argv + ["--allow-other-data"], capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=120)
    assert allowed.returncode == 0, allowed.stderr
    first, *more = allowed.stdout.splitlines()              # the verdict, wrapped at 100 columns
    assert first.startswith("PASS: ") and all(line.startswith("  ") for line in more)
    assert " ".join(line.strip() for line in [first, *more]).endswith(
        "; data: NOT the canonical MNIST (train-labels-idx1-ubyte: --allow-other-data)")
    data = json.loads(out.read_text())["config"]["data"]
    assert data["canonical"] is False and data["not_canonical"] == ["train-labels-idx1-ubyte"]
