"""framework-mirror's pytest plugin: gradient-equivalence tests in your own test suite.

Installed with the package (entry point pytest11 `framework_mirror`), and inert unless used: at
pytest's start it imports this module, compare/__init__.py (whose names load on first use) and
compare/engine/display.py, nothing else (no NumPy, torch or TensorFlow); it changes no option or
setting of pytest's, and adds only its own options, ini keys and the `mirror` marker.
`-p no:framework_mirror` turns it off.

    def test_port(mirror):                          # the fixture: the run's settings applied
        mirror.assert_equivalent(torchnet, kerasnet, data=(X, Y))

    @pytest.mark.mirror(steps=3, against="scratch,torch", mode="float32")
    def test_float32(mirror): ...                   # per test: steps, frameworks, tolerance mode

    pytest --mirror examples/       files that declare implementations (compare.functions, ...) as
                                    tests: one item per declaration and reference, `net[torch]`
    pytest --mirror-reports DIR     the JSON report of each failing check kept in DIR

Settings, first found wins: the call's own arguments; the test's `mirror` marker; the command line
(--mirror-steps, --mirror-against, --mirror-mode, --mirror-recipe, --mirror-data); the ini file
(mirror_steps, ...); compare.check's defaults (20 steps against torch and Keras, float64).
mode: 'float64' (equivalence: rtol 1e-9) or 'float32' (rtol 3e-4); compare/engine/check.py.

A failing check is shown as its verdict (step, layer, tensor, both values, the diagnosis, the
settings that differ) and the settings of the run, not as a traceback through the harness. A
framework that is not installed skips the test with the reason, never passes it. Each check is
seeded by its spec alone (compare/adapters/boundary.py), so results do not depend on the order of
the tests or on which xdist worker runs them.

Left out: checks spread over several tests (one report per check); the weights='mine' copy check
of a port declared beside its original in one file (`python -m compare check FILE` runs it).
"""
import os
import re

import pytest

ENTRY_POINT = "framework_mirror"
ADAPTERS = re.compile(r"\b(functions|network_class|torch_module|keras_model|layer_functions)\s*\(")
MISSING = re.compile(r"(?:ModuleNotFound|Import)Error: No module named "
                     r"'?(torch|tensorflow|keras)\b")
MODES = ("float64", "float32")
OPTIONS = ("steps", "against", "mode", "recipe", "data")


def pytest_addoption(parser):
    group = parser.getgroup("mirror", "framework-mirror: gradient-equivalence checks")
    group.addoption("--mirror", action="store_true", default=False,
                    help="collect the Python files under the paths given that declare "
                         "implementations (compare.functions, compare.torch_module, ...): one test "
                         "per declaration and reference")
    group.addoption("--mirror-reports", metavar="DIR", default=None,
                    help="keep the JSON report of each failing check in DIR")
    group.addoption("--mirror-steps", type=int, metavar="N", default=None,
                    help="steps per check (default 20)")
    group.addoption("--mirror-against", metavar="LIST", default=None,
                    help="frameworks to check against, some of scratch,torch,keras "
                         "(default torch,keras)")
    group.addoption("--mirror-mode", choices=MODES, default=None,
                    help="float64 (equivalence, rtol 1e-9; the default) or float32 (rtol 3e-4)")
    group.addoption("--mirror-recipe", metavar="NAME", default=None,
                    help="a recipe's data and training settings for checks that give none")
    group.addoption("--mirror-data", metavar="NAME", default=None,
                    help="a recipe's data alone, likewise")
    for key in OPTIONS:
        parser.addini(f"mirror_{key}", f"default of --mirror-{key}", default=None)


def pytest_configure(config):
    config.addinivalue_line("markers", "mirror(steps=None, against=None, mode=None, recipe=None, "
                                       "data=None): settings of this test's framework-mirror "
                                       "checks (docs/testing.md)")


# --- the settings of a check --------------------------------------------------------------------

def run_settings(config, node=None):
    """The settings in force for `node`: its marker's, else the command line's, else the ini file's.
    -> {key: value} for the keys given anywhere (OPTIONS)."""
    found = {}
    for key in OPTIONS:
        value = config.getoption(f"mirror_{key}")
        if value is None:
            value = config.getini(f"mirror_{key}") or None
        if value is not None:
            found[key] = value
    marker = node.get_closest_marker("mirror") if node is not None else None
    if marker is not None:
        unknown = set(marker.kwargs) - set(OPTIONS)
        if unknown or marker.args:
            got = ", ".join(sorted(unknown)) or repr(marker.args)
            raise pytest.UsageError(f"{node.nodeid}: @pytest.mark.mirror takes "
                                    f"{', '.join(OPTIONS)} as keywords, got {got}")
        found.update({k: v for k, v in marker.kwargs.items() if v is not None})
    if "steps" in found:
        found["steps"] = int(found["steps"])
    if found.get("mode") not in (None, *MODES):
        raise pytest.UsageError(f"mirror mode must be one of {', '.join(MODES)}, "
                                f"got {found['mode']!r}")
    return found


def check_options(settings, given):
    """compare.check's keyword arguments: the settings, under the call's own arguments `given`."""
    options = {k: v for k, v in settings.items() if k in ("steps", "against", "recipe", "data")}
    if settings.get("mode"):
        overrides = dict(given.get("overrides") or {})
        overrides.setdefault("dtype", settings["mode"])
        options["overrides"] = overrides
    return {**options, **given}


def run_line(report):
    """'run: 1 of 3 steps, float64 (rtol 1e-09), mine against scratch, seed 0': what the failing
    check ran, read from its report (whatever set it: the call, a marker, the options)."""
    from .engine.registry import BUILTIN_NAMES

    s, config = report.summary, report.config
    references = [r for r in report.runners if r in BUILTIN_NAMES]
    users = [r for r in report.runners if r not in references and "@" not in r]
    planned = f" of {config['steps']}" if config.get("steps") else ""
    done = s.get("steps_completed", 0)
    who = f"{', '.join(users)} against " if users else ""
    return (f"run: {done}{planned} step{'s' * (done != 1 or bool(planned))}, {config.get('dtype')} "
            f"(rtol {s.get('rtol'):g}), {who}{', '.join(references)}, seed {config.get('seed')}")


def settings_line(settings):
    """'settings: steps 3, against scratch, mode float32': what the marker, the options and the
    ini file set for the test (the run line says what ran)."""
    words = [f"{k} {','.join(v) if isinstance(v, (list, tuple)) else v}"
             for k, v in settings.items()]
    return "settings: " + ", ".join(words)


# --- running a check --------------------------------------------------------------------------

def skip_unless_installed(against):
    """pytest.skip, with the reason, when a framework to check against is not installed."""
    from .engine import registry
    from .engine.errors import FrameworkUnavailable

    names = against.split(",") if isinstance(against, str) else against
    for name in (n.strip() for n in names):
        if name in registry.BUILTIN_NAMES:
            try:
                registry.require(name)
            except FrameworkUnavailable as error:
                raise skipped(f"{name} is not installed: {error}") from None


def skipped(reason):
    """The skip exception, reported at the test's own line (as a skip marker's is)."""
    try:
        return pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:                   # a pytest without the keyword: this line, the same reason
        return pytest.skip.Exception(reason)


class Mirror:
    """The `mirror` fixture: compare.check and compare.assert_equivalent with the run's settings.

        mirror.settings                          what applies to this test (marker, options, ini)
        mirror.check(*models, **options)         -> Report
        mirror.assert_equivalent(*models, ...)   -> Report; a failure is shown as the verdict
    """

    def __init__(self, settings, reports):
        self.settings = settings
        self.reports = reports          # every Report of this test, for --mirror-reports

    def check(self, *models, **options):
        import compare

        options = check_options(self.settings, options)
        skip_unless_installed(options.get("against", ("torch", "keras")))
        report = compare.check(*models, **options)
        self.reports.append(report)
        return report

    def assert_equivalent(self, *models, **options):
        from .engine.run import raise_unless_passed

        return raise_unless_passed(self.check(*models, **options))


REPORTS = pytest.StashKey[list]()


@pytest.fixture
def mirror(request):
    """Check implementations inside a test with the run's settings (the Mirror class)."""
    reports = request.node.stash.setdefault(REPORTS, [])
    return Mirror(run_settings(request.config, request.node), reports)


# --- how a failure reads -------------------------------------------------------------------------

def verdict_block(report, settings=None):
    """A failing check as lines a person reads: the verdict line, then the step, the pair, the
    layer, the tensor, both values, the diagnosis and the settings that differ, one per line."""
    from .engine.errors import one_line
    from .views.tables import error_block, judgement_line

    s = report.summary
    d = s.get("first_divergence") if not s.get("first_nonfinite") else None
    lines = [one_line(judgement_line(report))] if not s.get("error") else [error_block(s["error"])]
    if s.get("first_nonfinite"):
        n = s["first_nonfinite"]
        lines += [f"  step       {n['step']}", f"  where      {n['framework']}, layer {n['layer']}",
                  f"  tensor     {n['tensor']}{n.get('index') or ''}", f"  value      {n['value']}"]
    elif d:
        ours, theirs = d["ours"], d["theirs"]
        lines += [f"  step       {d['step']}", f"  pair       {ours} vs {theirs}",
                  f"  layer      {d['layer']}", f"  tensor     {d['tensor']}{d.get('index') or ''}"]
        if d["shape_ok"]:
            lines += [f"  {ours:10s} {d['values'][ours]!r}",
                      f"  {theirs:10s} {d['values'][theirs]!r}",
                      f"  error      abs {float(d['max_abs_err']):.3g}, "
                      f"rel {float(d['max_rel_err']):.3g} > rtol {d['rtol']:g}"]
        else:
            shapes = d.get("shapes") or {}
            lines += [f"  {ours:10s} shape {tuple(shapes.get(ours, ()))}",
                      f"  {theirs:10s} shape {tuple(shapes.get(theirs, ()))}"]
        for label, key in (("why", "explanation"), ("diagnosis", "diagnosis")):
            if d.get(key):
                lines.append(f"  {label:10s} {one_line(d[key])}")
        for key, why in (d.get("settings_differ") or {}).items():
            said = why if key.startswith("setting-") else f"{key}: {why}"
            lines.append(f"  differs    {one_line(said)}")
    lines.append(run_line(report))
    if settings:
        lines.append(settings_line(settings))
    return "\n".join(lines)


def report_name(nodeid, n):
    """The file name of a failing item's n-th report: its node id made safe for a file name."""
    stem = re.sub(r"[^A-Za-z0-9_.\-\[\]]+", "_", nodeid).strip("_")[:150]
    return f"{stem}{'' if n == 0 else f'.{n + 1}'}.json"


def keep_reports(config, nodeid, reports):
    """--mirror-reports DIR: write the failing item's reports there. -> the paths written."""
    folder = config.getoption("mirror_reports")
    if not folder or not reports:
        return []
    from .views.files import write_json

    folder = os.path.join(str(config.rootpath), folder) if not os.path.isabs(folder) else folder
    os.makedirs(folder, exist_ok=True)
    written = []
    for n, report in enumerate(reports):
        path = os.path.join(folder, report_name(nodeid, n))
        write_json(report, path)
        written.append(path)
    return written


def held_report(excinfo):
    """The Report an assert_equivalent failure holds (compare.NotEquivalent), or None. Read
    without importing this package's engine: a run that never checked anything pays nothing."""
    error = excinfo.value if excinfo is not None else None
    if isinstance(error, AssertionError) and type(error).__module__.startswith("compare."):
        return getattr(error, "report", None)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if call.when != "call":
        return rep
    reports = item.stash.get(REPORTS, None) if not isinstance(item, MirrorItem) else item.reports
    failed = held_report(call.excinfo)
    if rep.failed and reports:
        kept = keep_reports(item.config, item.nodeid, [r for r in reports if not r.passed])
        for path in kept:
            rep.sections.append(("framework-mirror report", path))
    if rep.failed and failed is not None:            # the verdict, not the harness's traceback
        settings = None
        if isinstance(item, MirrorItem):
            settings = item.settings
        elif "mirror" in getattr(item, "fixturenames", ()):
            settings = run_settings(item.config, item)
        rep.longrepr = verdict_block(failed, settings)
    return rep


# --- pytest --mirror DIR: files that declare implementations ----------------------------------

def pytest_collect_file(file_path, parent):
    config = parent.config
    if not config.getoption("mirror") or file_path.suffix != ".py":
        return None
    if file_path.name == "conftest.py":
        return None
    if any(file_path.match(pattern) for pattern in config.getini("python_files")):
        return None                                        # a test file: pytest's own collector
    try:
        text = file_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if "compare" not in text or not ADAPTERS.search(text):
        return None
    return MirrorFile.from_parent(parent, path=file_path)


class MirrorFile(pytest.File):
    """A file declaring implementations: imported once, as `python -m compare check FILE` does
    (compare.adapters.check.load_file and declared), then one item per declaration and reference."""

    def collect(self):
        from .adapters.check import declared, load_file, resolve_against
        from .engine.errors import InputError, UserCodeFailed

        settings = run_settings(self.config)
        against = settings.get("against", "torch,keras")
        try:
            names = [entry.name for entry in resolve_against(against)]
            module = load_file(str(self.path), seed=0)
            found = declared(module, str(self.path))
        except (InputError, UserCodeFailed) as error:
            missing = MISSING.search(str(error))
            if missing:                     # a framework the file needs is not installed: skipped
                raise pytest.skip.Exception(f"{missing.group(1)} is not installed: {error}",
                                            allow_module_level=True) from None
            raise self.CollectError(f"{self.path}: {error}") from None
        for implementation in found:
            for reference in names:
                yield MirrorItem.from_parent(self, name=f"{implementation.name}[{reference}]",
                                             implementation=implementation, reference=reference)


class MirrorItem(pytest.Item):
    """One declaration checked against one reference: compare.check(it, against=(reference,))."""

    def __init__(self, *, implementation, reference, **kwargs):
        super().__init__(**kwargs)
        self.implementation = implementation
        self.reference = reference
        self.reports = []
        self.settings = {}

    def runtest(self):
        import compare
        from .engine.errors import InputError, UserCodeFailed

        self.settings = {**run_settings(self.config, self), "against": self.reference}
        skip_unless_installed(self.reference)
        try:
            report = compare.check(self.implementation, **check_options(self.settings, {}))
        except (InputError, UserCodeFailed) as error:    # the command's words, as pytest's options
            text = re.sub(r"--(recipe|data|steps)\b", r"--mirror-\1", str(error))
            raise MirrorInputError(text) from None
        self.reports.append(report)
        from .engine.run import raise_unless_passed
        raise_unless_passed(report)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MirrorInputError):
            return f"error: {excinfo.value}"
        report = held_report(excinfo)
        if report is not None:
            return verdict_block(report, self.settings)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


class MirrorInputError(Exception):
    """A declaration the check cannot run (its network unreadable, a setting refused): one line."""
