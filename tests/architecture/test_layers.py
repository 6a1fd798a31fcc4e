"""The walls of the architecture, checked on the source (docs/DEVELOPING.md, "Layers").

Imports go downward only: the application commands (``appion.cli``) on top, then the
simulator, curation, export, the steps, ``base``, and ``sinedon`` at the bottom.  Steps
do not import each other; ``calc`` is pure.
"""

from __future__ import annotations

import ast

import pytest

from .imports import closure, cycles, import_graph, modules

#: Layer of each package: a module imports only from lower layers or its own package.
LAYERS = {
    "sinedon": 0,
    "appion": 0,
    "appion.base": 1,
    "appion.motioncorrection": 2,
    "appion.ctfestimation": 2,
    "appion.particlepicking": 2,
    "appion.export": 3,
    "appion.curation": 4,
    "appion.simulation": 5,
    "appion.facility": 5,
    "appion.cli": 6,
}
STEP_PACKAGES = ("appion.motioncorrection", "appion.ctfestimation",
                 "appion.particlepicking")
#: Calls that read or write files; none may appear in a pure ``calc/internal`` module.
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "savefig",
              "imsave", "imwrite", "imread", "tofile", "fromfile", "savetxt", "loadtxt",
              "mkdir", "makedirs", "unlink", "rename", "rmtree"}
#: Calls that touch files when made on these modules (``np.save``, ``os.remove``).
MODULE_FILE_CALLS = {"save", "savez", "load", "memmap", "remove", "replace"}
FILE_CALL_MODULES = {"np", "numpy", "os"}
FILE_MODULES = {"mrcfile", "tifffile", "imagecodecs", "PIL", "shutil", "tempfile"}


def layer_of(module: str) -> str:
    """The longest :data:`LAYERS` key that is ``module`` or a package holding it."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if prefix in LAYERS:
            return prefix
    raise AssertionError(f"{module} is in no layer; add its package to LAYERS")


GRAPH = import_graph()


def test_every_module_is_in_a_layer():
    for module in GRAPH:
        layer_of(module)


def test_imports_go_downward_only():
    upward = []
    for module, edges in GRAPH.items():
        source = layer_of(module)
        for target, line in edges.items():
            destination = layer_of(target)
            if destination == source or LAYERS[destination] < LAYERS[source]:
                continue
            if destination == "appion" or source == "appion":
                continue
            upward.append(f"{module}:{line} imports {target}")
    assert not upward, "imports that go up or sideways:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("step", STEP_PACKAGES)
def test_workers_reach_no_database(step):
    """What a Dask worker imports for a task never reaches sinedon, Django or a store."""
    reached = closure(GRAPH, f"{step}.worker")
    database = sorted(name for name in reached if name.startswith("sinedon")
                      or ".store" in name or ".retrieve" in name)
    assert database == []


@pytest.mark.parametrize("step", STEP_PACKAGES)
def test_calc_is_pure(step):
    """``calc`` imports only ``calc``, the step's contract and base's errors and calc."""
    allowed = ("appion.base.calc", "appion.base.errors", f"{step}.calc", f"{step}.contract")
    impure = [f"{module}:{line} imports {target}"
              for module, edges in GRAPH.items() if module.startswith(f"{step}.calc")
              for target, line in edges.items()
              if not any(target == ok or target.startswith(ok + ".") for ok in allowed)]
    assert impure == []


def _file_uses(tree: ast.Module) -> list[str]:
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(getattr(func, "value", None), "id", None)
            if name in FILE_CALLS or (name in MODULE_FILE_CALLS
                                      and owner in FILE_CALL_MODULES):
                uses.append(f"line {node.lineno}: {name}()")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            uses += [f"line {node.lineno}: import {name}" for name in names
                     if name.split(".")[0] in FILE_MODULES]
    return uses


def test_no_calc_internal_module_touches_a_file():
    touching = {name: uses for name, module in modules().items()
                if ".calc.internal" in name or name.endswith(".calc")
                for uses in [_file_uses(module.tree())] if uses}
    assert touching == {}


def _strings(tree: ast.Module) -> list[tuple[int, str]]:
    """String constants that are not docstrings: where an import string would be."""
    documented = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in documented]


def test_base_names_no_module_above_it():
    """``base`` finds steps through entry points, never by an import string."""
    above = [prefix for prefix, rank in LAYERS.items() if rank > LAYERS["appion.base"]]
    named = [f"{name}:{line} {text!r}" for name, module in modules().items()
             if name.startswith("appion.base")
             for line, text in _strings(module.tree())
             if any(text == prefix or text.startswith(prefix + ".") or
                    text.startswith(prefix + ":") for prefix in above)]
    assert named == []
