"""Every call of the safety gate, removed in turn, must make a test fail.

For each call in ``src/mosaicgan`` of the gate's entry points (the public screens of
``safety.py`` and ``sheets.py``: :func:`entry_points`), a copy of the source tree and the
tests gets that one call replaced by what "nothing found" returns (``[]`` for a list of
reasons or boxes, the unscreened panel for ``screened``, the unscreened rows for
``screened_rows``), and the tests that cover its file (:data:`TESTS`) run against the
copy. A mutation is *killed* when a test fails, *survived* when they all pass: a gate
call no test would miss.

Exit 1 when any mutation survived, or a run could not be judged (tests missing, the
unmutated tree failing them). Usage: ``.venv/bin/python scripts/mutation_check.py
[--list] [--no-baseline] [FILTER]`` (FILTER: run only sites whose name contains it).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/mosaicgan")
# The gate's entry points are the public functions of these files that return what a
# screen finds (see entry_points); a call of one is replaced by "nothing found".
GATE_FILES = ("safety.py", "sheets.py")
NOTHING = {"list": "[]", "dict": "__import__('collections').defaultdict(bool)"}
# Screens that return what they were given when nothing is found: the index of that
# argument (the panel, the rows), returned unscreened.
PASS_THROUGH = {"screened": 1, "screened_rows": 0}
# The tests that must catch a gate call removed from each file (the fast ones that do).
TESTS: dict[str, list[str]] = {
    "models/restorer.py": [
        "tests/test_safety.py::test_restoring_a_face_keeps_the_mosaic",
        "tests/test_gate_writers.py::test_restore_video_keeps_her_face_mosaiced"],
    "models/translator.py": [
        "tests/test_safety.py::test_translate_refuses_a_face_behind_a_mosaic"],
    "safety.py": [
        "tests/test_safety.py::test_real_face_is_caught_and_a_cup_is_not",
        "tests/test_safety.py::test_translate_refuses_a_face_behind_a_mosaic",
        "tests/test_public_surface.py::test_gated_callable_consults_the_gate_on_a_face"
        "[mosaicgan.sheets.screened]",
        "tests/test_training_screen.py"],
    "screening.py": ["tests/test_training_screen.py"],
    "sheets.py": [
        "tests/test_public_surface.py::test_gated_callable_consults_the_gate_on_a_face"
        "[mosaicgan.sheets.screened_rows]"],
    "jobs/pairs.py": [
        "tests/test_safety.py::test_pairs_skip_flagged_photos_and_name_them",
        "tests/test_gate_writers.py::"
        "test_pairs_leave_out_crops_over_a_face_seen_in_the_whole_photo"],
    "jobs/train.py": ["tests/test_safety.py::test_training_leaves_out_flagged_pairs"],
    "train/cyclegan.py": [
        "tests/test_gate_writers.py::"
        "test_cyclegan_sample_sheet_withholds_a_face_no_input_showed"],
    "jobs/demo.py": ["tests/test_gate_writers.py::test_demo_sheet_withholds_her_face"],
    "jobs/evaluate.py": [
        "tests/test_gate_writers.py::test_eval_grid_withholds_every_panel_of_her_face"],
    "train/loop.py": [
        "tests/test_gate_writers.py::test_masked_sample_sheet_withholds_the_restored_face"],
}
# A file with a gate call and no entry above: every gate test runs for it.
FALLBACK = ["tests/test_gate_writers.py", "tests/test_safety.py",
            "tests/test_public_surface.py"]
# Each run: quiet, no cache written into the copy (and -x but for the baseline).
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header"]


@dataclass(frozen=True)
class Site:
    file: str  # relative to src/mosaicgan
    line: int
    name: str  # the entry point called
    span: tuple[int, int, int, int]  # (line, col, end line, end col) of the call, 1-based lines
    replacement: str

    @property
    def label(self) -> str:
        return f"{self.file}:{self.line} {self.name}"


def entry_points(root: Path = REPO / PACKAGE) -> dict[str, str | int]:
    """Entry point -> its replacement: a Python expression meaning "nothing found" (for a
    list of reasons or boxes, a dict of flags), or the index of the argument it passes
    through. Found in the gate's files, so a new screen is mutated without a word here."""
    entries: dict[str, str | int] = {}
    for name in GATE_FILES:
        for node in ast.parse((root / name).read_text()).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            returns = ast.unparse(node.returns) if node.returns else ""
            if node.name in PASS_THROUGH:
                entries[node.name] = PASS_THROUGH[node.name]
            elif (kind := returns.split("[")[0]) in NOTHING:
                entries[node.name] = NOTHING[kind]
    missing = set(PASS_THROUGH) - set(entries)
    if missing:
        raise SystemExit(f"mutation_check.py: {sorted(missing)} no longer in {GATE_FILES}")
    return entries


def called_name(call: ast.Call, entries: dict[str, str | int]) -> str | None:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else None
    return name if name in entries else None


def sites(root: Path = REPO / PACKAGE) -> list[Site]:
    """Every call of an entry point in the package (definitions are not calls)."""
    entries = entry_points(root)
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call) or (name := called_name(node, entries)) is None:
                continue
            how = entries[name]
            if isinstance(how, int):  # the argument that passes unscreened
                if len(node.args) <= how:
                    raise SystemExit(f"{rel}:{node.lineno}: {name} without its argument "
                                     f"{how}; teach mutation_check.py this call")
                how = f"({ast.get_source_segment(text, node.args[how])})"
            found.append(Site(rel, node.lineno, name, (node.lineno, node.col_offset,
                                                       node.end_lineno, node.end_col_offset),
                              how))
    return sorted(found, key=lambda s: (s.file, s.line))


def mutated(text: str, site: Site) -> str:
    """``text`` with the site's call replaced (offsets are UTF-8 bytes, as ast gives)."""
    lines = text.splitlines(keepends=True)
    line, col, end_line, end_col = site.span
    head = lines[line - 1].encode()[:col].decode()
    tail = lines[end_line - 1].encode()[end_col:].decode()
    return "".join(lines[:line - 1]) + head + site.replacement + tail + "".join(lines[end_line:])


def tests_for(site: Site) -> list[str]:
    return TESTS.get(site.file, FALLBACK)


def copy_tree(into: Path) -> Path:
    """The source and tests copied into ``into`` (the shipped weights linked, not copied)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "weights")
    shutil.copytree(REPO / "src", into / "src", ignore=ignore)
    shutil.copytree(REPO / "tests", into / "tests", ignore=ignore)
    (into / PACKAGE / "weights").symlink_to(REPO / PACKAGE / "weights")
    shutil.copy(REPO / "pyproject.toml", into / "pyproject.toml")
    return into


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")  # ahead of the editable install's path
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # (a mutated file must never meet a stale .pyc)
    # Measuring inference backends is not what these tests are about (minutes on 2 cores).
    env.setdefault("MOSAICGAN_BACKEND", "torch")
    return env


def run_tests(copy: Path, tests: list[str], stop: bool = True) -> tuple[int, float, str]:
    """pytest's exit code, seconds, and its summary line (with the failures named)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *PYTEST, *(["-x"] if stop else []), "-rfE",
                           *tests], cwd=copy, env=environment(copy), capture_output=True,
                          text=True, check=False)
    output = (done.stdout + done.stderr).strip().splitlines()
    failed = [line.split(" - ")[0] for line in output if line.startswith(("FAILED", "ERROR"))]
    summary = (output[-1] if output else "") + "".join(f"\n    {f}" for f in failed)
    return done.returncode, time.perf_counter() - started, summary


def imported_from(copy: Path) -> Path:
    """Where the copy's interpreter imports mosaicgan from (must be the copy)."""
    done = subprocess.run([sys.executable, "-c", "import mosaicgan; print(mosaicgan.__file__)"],
                          cwd=copy, env=environment(copy), capture_output=True, text=True,
                          check=True)
    return Path(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="", help="only sites whose name has this")
    parser.add_argument("--list", action="store_true", help="list the sites and their tests")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip running the tests on the unmutated copy first")
    args = parser.parse_args()
    todo = [s for s in sites() if args.filter in s.label]
    if args.list:
        for s in todo:
            print(f"{s.label:40} -> {s.replacement:16} {' '.join(tests_for(s))}")
        return 0
    if not todo:
        print(f"no gate call matches {args.filter!r}")
        return 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        copy = copy_tree(Path(tmp))
        origin = imported_from(copy)
        print(f"mosaicgan imported from {origin}")
        if not origin.is_relative_to(copy):
            print("error: the tests would import the installed package, not the copy")
            return 1
        if not args.no_baseline:  # a test that fails anyway would "kill" every mutation
            union = list(dict.fromkeys(t for s in todo for t in tests_for(s)))
            code, seconds, last = run_tests(copy, union, stop=False)
            print(f"baseline: {len(union)} test selection(s), unmutated: {last} "
                  f"({seconds:.0f} s)")
            if code != 0:
                print("error: the tests fail on the unmutated tree; fix them first")
                return 1
        rows = []
        for site in todo:
            target = copy / PACKAGE / site.file
            original = target.read_text()
            target.write_text(mutated(original, site))
            try:
                code, seconds, last = run_tests(copy, tests_for(site))
            finally:
                target.write_text(original)
            verdict = {0: "SURVIVED", 1: "killed"}.get(code, f"error (pytest exit {code})")
            rows.append((site, verdict, seconds, last))
            print(f"{site.label:40} {verdict:10} {seconds:5.0f} s  {last}", flush=True)
    print(f"\n{'gate call':40} {'replaced by':24} {'verdict':10} {'time':>6}")
    for site, verdict, seconds, _ in rows:
        print(f"{site.label:40} {site.replacement[:24]:24} {verdict:10} {seconds:5.0f} s")
    bad = [r for r in rows if r[1] != "killed"]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} mutation(s) killed in "
          f"{time.perf_counter() - started:.0f} s" + (f"; not killed: "
          f"{', '.join(r[0].label for r in bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
