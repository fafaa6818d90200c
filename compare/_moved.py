"""Modules that moved, kept importable under their old names for one minor version.

    compare.recipes  -> compare.data.recipes      (moved in 0.1.0; the old name goes in 0.3.0)
    compare.bugs     -> compare.data.bugs

The old module file (compare/recipes.py) calls `alias(__name__)`: it warns with a
DeprecationWarning naming the new place, at the line of the user's code that imported it, and puts
the new module in its place in sys.modules, so both names are one module (the same RECIPES, the
same BUGS; a test that patches one patches the other). The warning is given once per process, at
the first import, as any module's import runs once.
"""
import importlib
import sys
import warnings

MOVED = {"compare.recipes": "compare.data.recipes", "compare.bugs": "compare.data.bugs"}
REMOVED_IN = "0.3.0"


def alias(old):
    """Make `old` (a name in MOVED) the module it moved to, warning the importer. -> that module"""
    new = MOVED[old]
    warnings.warn(f"{old} moved to {new}: import {new} (the old name works until framework-mirror "
                  f"{REMOVED_IN})", DeprecationWarning, stacklevel=importer_level())
    module = importlib.import_module(new)
    sys.modules[old] = module
    return module


def importer_level():
    """The stacklevel of the first frame outside this package's shims (the user's `import
    compare.recipes` line), for warnings.warn called in `alias`. warnings does not count the
    import machinery's frames (<frozen importlib._bootstrap>) once the level is above 1."""
    frame, level = sys._getframe(2), 2               # 2: the shim module that called alias
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_globals.get("__name__") in MOVED):
        internal = frame.f_code.co_filename.startswith("<frozen importlib")
        frame, level = frame.f_back, level + (not internal)
    return level
