"""Which tfstyle modules may import which: no features <-> weights circle, evaluate independent of optimize.

The static checks read every `import` in the source with `ast`, including those inside functions
(a lazy import is still a dependency); the subprocess checks import the real modules with the
forbidden one blocked, so they also catch an import hidden behind `importlib`.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap

import helpers

PACKAGE = helpers.REPO / "tfstyle"


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(helpers.REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The tfstyle modules `name` imports anywhere in its source, plus the packages that run first."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` in package a.b means a.b.x
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    modules = {module for module in found if module in MODULES}
    for module in list(modules):  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = module.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts)))
    parts = name.split(".")
    return modules - {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # its own packages run already


GRAPH = {name: _imports(name) for name in MODULES}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for module in GRAPH[todo.pop()] - seen:
            seen.add(module)
            todo.append(module)
    return seen


def _in_package(package: str) -> list[str]:
    return [name for name in MODULES if name == package or name.startswith(package + ".")]


def test_the_import_graph_reads_real_imports():
    """The checks below are only as good as the graph: it sees top-level, `from`, and lazy imports."""
    assert "tfstyle.weights" in GRAPH["tfstyle.features"]  # `from tfstyle import weights as weights_lib`
    assert "tfstyle.weights.resolve" in GRAPH["tfstyle.weights"]
    assert "tfstyle.cli" in GRAPH["tfstyle.weights.__main__"]  # imported inside a function
    assert "tfstyle.loss_targets" in GRAPH["tfstyle.optimize.objective"]


def test_no_weights_module_reaches_features():
    """features imports weights to resolve and load files; nothing in weights leads back to features."""
    for name in _in_package("tfstyle.weights"):
        assert "tfstyle.features" not in _reachable(name), name
    assert "tfstyle.weights" in _reachable("tfstyle.features")


def test_no_import_cycle_anywhere_in_tfstyle():
    cycles = [name for name in MODULES if name in _reachable(name)]
    assert cycles == []


def test_evaluate_never_imports_optimize():
    for name in _in_package("tfstyle.evaluate"):
        assert not any(module.startswith("tfstyle.optimize") for module in _reachable(name)), name


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=helpers.REPO, env=helpers.env(), timeout=300, check=False)


def test_weights_work_with_features_blocked(tmp_path):
    """Resolve, check, save and load a VGG19 file in a process where importing tfstyle.features fails."""
    result = _run_python(f"""
        import sys
        sys.modules["tfstyle.features"] = None  # any import of it now raises ImportError
        import numpy as np
        from tfstyle import weights
        layout = weights.get_layout("vgg19")
        layers = {{name: [np.full(shape, 0.5, np.float32), np.zeros(shape[-1], np.float32)]
                   for name, shape in layout.kernel_shapes.items()}}
        path = weights.save_weights_file(layers, "vgg19", {str(tmp_path / "vgg19.weights.h5")!r})
        resolved = weights.resolve_weights("vgg19", path)
        loaded = weights.load_weights_file(resolved.path, "vgg19")
        assert resolved.source == "file" and list(loaded) == list(layout.conv_layers)
        assert float(loaded["block5_conv4"][0].mean()) == 0.5
        print("ok", "tfstyle.features" in sys.modules and sys.modules["tfstyle.features"] is not None)
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["ok", "False"]


def test_evaluate_stylization_imports_no_optimize_module():
    result = _run_python("""
        import sys
        import tfstyle.evaluate.stylization, tfstyle.evaluate.translation, tfstyle.evaluate.__main__
        print(sorted(name for name in sys.modules if name.startswith("tfstyle.optimize")))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
