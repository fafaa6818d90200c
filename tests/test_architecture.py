"""The folders show the architecture: no import cycles, each layer imports only the layers
below it, and a fourth implementation plugs in through the registry alone."""
import ast
from pathlib import Path

import numpy as np

import compare
from compare.engine import registry

PACKAGE = Path(__file__).resolve().parent.parent / "compare"
# layer -> the layers (besides itself) it may import
ALLOWED = {
    "engine": set(),
    "implementations": {"engine"},
    "data": {"engine"},
    "adapters": {"engine", "data"},
    "views": {"engine", "data"},
    "cli": {"engine", "data", "views", "adapters", "implementations"},
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path):
    """Every compare.* module `path` imports, at the top or inside functions (lazy imports count)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate.startswith("compare") and (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() \
                    or (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").exists() and candidate.startswith("compare"):
                found.add(candidate)
    return found - {name}


def graph():
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else "top"


def test_no_import_cycles():
    edges = graph()
    state = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join(path + [node])
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            visit(target, path + [node])
        state[node] = "done"

    for module in sorted(edges):
        visit(module, [])
    assert len(edges) > 30          # the walk saw the package


def test_each_layer_imports_only_the_layers_below():
    for module, targets in graph().items():
        own = layer(module)
        if own == "top":
            continue
        for target in targets:
            other = layer(target)
            assert other == own or other in ALLOWED[own], f"{module} ({own}) imports {target} ({other})"


def test_a_fourth_implementation_is_one_build_function_and_one_registration():
    """A stand-in fourth framework: the scratch MLP under another name, in torch's conventions.
    Registering it is the only change; runs, pairs and reports pick it up."""
    from compare.implementations import scratch

    entry = registry.register(compare.Entry("numpy2", ("torch",), build=scratch.build,
                                            description="a fourth implementation"))
    try:
        spec = compare.Spec(sizes=[3, 4, 2], activations=["tanh", "softmax"], loss="categorical_crossentropy",
                            optimizer="adam", lr=0.01, batch_size=4, steps=5, epochs=None)
        report = compare.run(spec, frameworks=("scratch", "numpy2", "torch"))
        assert report.verdict == "pass"
        # numpy2~torch: two references in one convention (torch's), so no rule differs: judged too
        assert set(report.summary["judged_pairs"]) == {"numpy2", "torch", "numpy2~torch"}
        assert report.summary["pairs"]["numpy2~torch"]["reasons"] == {}
        assert report.summary["max_rel_err"]["numpy2"] == 0.0           # the same code, bit for bit
        assert report.summary["max_rel_err"]["torch"] < 1e-12
        assert report.summary["max_rel_err"]["numpy2~torch"] < 1e-12
        assert report.summary["tensors_judged"] == 3 * 5 * (2 * 2 + 1 + 3 * 2 + 2 * 2 + 2 * 2 * 2 + 1)
        assert "numpy2" in registry.names() and entry.name == "numpy2"
    finally:
        registry.REGISTRY.pop("numpy2")


def test_import_compare_imports_no_framework():
    import subprocess
    import sys
    code = ("import sys, compare; compare.Spec; print(sorted(m for m in ('torch', 'tensorflow', 'keras', "
            "'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_tensor_names_parse_in_one_place():
    from compare.engine.names import TensorName, UnknownTensor

    assert str(TensorName.parse("dW12")) == "dW12" and TensorName.parse("W1.m").group == "state"
    assert TensorName.parse("b3").group == "params" and TensorName.parse("loss").layer is None
    for bad in ("W0", "dW", "x1", "dW1.m", "Z1.m", ""):
        try:
            TensorName.parse(bad)
        except UnknownTensor:
            continue
        raise AssertionError(f"{bad!r} parsed")
    names = ["W1", "dZ2", "loss", "A1", "Z1", "db1", "W1.m", "dW1", "Z2", "A2", "dZ1", "b1", "dW2", "db2"]
    assert compare.engine.names.ordered(names, 2) == ["Z1", "A1", "Z2", "A2", "loss", "dZ2", "dW2", "db2",
                                                      "dZ1", "dW1", "db1", "W1", "b1", "W1.m"]
    assert np.isfinite(1.0)
