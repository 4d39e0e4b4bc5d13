"""Count the portable tests with CPython's ast: what MicroPython must run.

Printed number is passed to run.mjs, which fails if fewer tests ran, so a
module MicroPython cannot import, or a test it skips, cannot go unnoticed.
"""

import ast
import pathlib
import sys


def count(folder: pathlib.Path) -> int:
    total = 0
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        total += sum(
            1
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test_")
        )
    return total


if __name__ == "__main__":
    print(count(pathlib.Path(sys.argv[1])))
