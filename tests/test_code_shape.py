"""Functions outside tests/ stay short: at most MAX_LINES lines each, unless ALLOWED says why not.

A function's length runs from its ``def`` line to its last line (docstring and comments included, decorators
not). A nested function or a method is named by its qualified name (``Class.method``, ``outer.inner``) and
counted on its own; its lines also count towards the function around it. Split a long function into
well-named steps; allow-list it only when splitting would make it harder to read, with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80
# What is checked: the app's code, not tests/ (nor .venv*, node_modules, cdk.out, which are outside these).
CHECKED = ("app.py", "stacks", "glue_scripts", "training", "common", "ds_on_aws", "benchmarks")

# "path::qualname" -> why it may be longer than MAX_LINES. Every entry must still exist and still be too long.
ALLOWED: dict[str, str] = {}


def python_files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def function_lengths(path: Path) -> dict[str, int]:
    """``qualname`` -> number of lines, for every function and method of a module (nested ones included)."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualname = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    lengths[qualname] = child.end_lineno - child.lineno + 1
                visit(child, qualname + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), "")
    return lengths


def all_lengths() -> dict[str, int]:
    """``path::qualname`` -> number of lines, over every checked file."""
    return {
        f"{path.relative_to(ROOT).as_posix()}::{qualname}": lines
        for path in python_files()
        for qualname, lines in function_lengths(path).items()
    }


def test_functions_are_at_most_max_lines_long():
    too_long = [
        f"{key.replace('::', ':')} ({lines} lines)"
        for key, lines in sorted(all_lengths().items())
        if lines > MAX_LINES and key not in ALLOWED
    ]
    assert not too_long, (
        f"functions longer than {MAX_LINES} lines (split them, or add them to ALLOWED in {Path(__file__).name} "
        "with the reason):\n  " + "\n  ".join(too_long)
    )


def test_the_allow_list_is_not_stale():
    lengths = all_lengths()
    stale = [
        f"{key}: " + ("no such function" if key not in lengths else f"{lengths[key]} lines, within the limit")
        for key in sorted(ALLOWED)
        if lengths.get(key, 0) <= MAX_LINES
    ]
    assert not stale, "remove these entries from ALLOWED:\n  " + "\n  ".join(stale)
    assert all(reason.strip() for reason in ALLOWED.values()), "every ALLOWED entry needs a reason"


def test_the_check_sees_the_code():
    files = {path.relative_to(ROOT).as_posix() for path in python_files()}
    assert {"app.py", "training/train.py", "ds_on_aws/local/pipeline.py", "common/pipeline_contracts.py"} <= files
    assert not any(name.startswith("tests/") for name in files)


def test_lengths_count_from_def_to_last_line_with_qualified_names(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "def outer():\n    def inner():\n        return 1\n    return inner\n\n\n"
        "class Box:\n    @property\n    def size(self):\n        return 2\n"
    )
    assert function_lengths(module) == {"outer": 4, "outer.inner": 2, "Box.size": 2}
