"""The package's layers: no import cycle, even through imports inside functions, and no
module importing a layer above its own (cli -> api -> jobs -> {video, train, data,
regions} -> models -> safety, sheets -> primitives). Inference never imports training."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mosaicgan

PACKAGE = Path(mosaicgan.__file__).parent
# The layer of each top-level module or package of mosaicgan; a module may import its own
# layer or those below.
LAYERS = {
    "__main__": 7, "cli": 6, "ui": 6,
    "api": 5,
    "jobs": 4,
    "video": 3, "train": 3, "data": 3, "regions": 3, "metrics": 3, "screening": 3,
    "models": 2,
    "safety": 1, "sheets": 1,
    "": 0, "errors": 0, "options": 0, "geometry": 0, "imageio": 0, "mosaic": 0,
    "limits": 0, "baselines": 0, "plots": 0, "nets": 0, "detect": 0, "find": 0,
    "weights": 0, "naming": 0, "walk": 0, "safety_detail": 0, "imagefile": 0, "exif": 0,
    "containers": 0, "fastpath": 0,
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The mosaicgan modules ``name`` imports anywhere in its file (functions included)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{module}.{a.name}" for a in node.names] + [module]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("mosaicgan"):
                out.add(target)
    return out


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return LAYERS[top]


def test_every_module_has_a_layer():
    assert {m.split(".")[1] for m in modules() if "." in m} <= set(LAYERS)


def test_no_module_imports_a_layer_above_its_own():
    known = modules()
    upward = [(m, t) for m, p in known.items() for t in imports(m, p, known)
              if layer(t) > layer(m) and not t.startswith(m + ".")]
    assert upward == []


def test_inference_never_imports_training():
    known = modules()
    for m, p in known.items():
        if m.startswith(("mosaicgan.models", "mosaicgan.nets", "mosaicgan.detect")):
            assert not [t for t in imports(m, p, known) if t.startswith("mosaicgan.train")], m


def test_no_import_cycle():
    known = modules()
    edges = {m: {t for t in imports(m, p, known) if not m.startswith(t + ".")}
             for m, p in known.items()}
    cycles, index, low, stack, on = [], {}, {}, [], set()

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for m in edges:
        if m not in index:
            visit(m)
    assert cycles == []


def test_each_module_imports_on_its_own():
    """In a fresh interpreter, each module imported first (the package's other modules
    forgotten before each): an import that works only in some order fails here."""
    names = sorted(m for m in modules() if m != "mosaicgan.__main__")
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    for m in [m for m in sys.modules if m == 'mosaicgan' or m.startswith('mosaicgan.')]:\n"
        "        del sys.modules[m]\n"
        "    importlib.import_module(name)\n"
        "print('ok', len(" + repr(names) + "))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok")


def test_the_command_line_lists_the_cam_registry():
    from mosaicgan.options import CAM_METHOD_NAMES
    from mosaicgan.regions.cam import CAM_METHODS

    assert tuple(CAM_METHODS) == CAM_METHOD_NAMES


def test_hiding_faces_in_a_video_starts_without_torch():
    """The mosaic job's modules (the CLI command, the detectors, their runtime choice,
    the video processors) import no torch: a second of every start-up."""
    import subprocess
    import sys

    code = ("import sys, mosaicgan.cli, mosaicgan.jobs.mosaic, mosaicgan.detect.shared, "
            "mosaicgan.detect.centerface, mosaicgan.video.hiding; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
