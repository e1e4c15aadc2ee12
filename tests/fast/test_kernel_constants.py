"""The compiled kernel's constants are local to fast/kernel.py (numba's cache is keyed on that
file alone) and equal the torch path's constants of the same names."""

import ast
import importlib
from pathlib import Path

import pytest

from multidraft.fast import kernel

KERNEL_SOURCE = Path(kernel.__file__).read_text()


@pytest.mark.parametrize("module, name", [(m, n) for m, names in kernel.SHARED_CONSTANTS.items() for n in names])
def test_kernel_constants_equal_the_torch_paths(module, name):
    torch_path = importlib.import_module(f"multidraft.fast.{module}")
    assert getattr(kernel, name) == getattr(torch_path, name), (module, name)


def test_kernel_imports_no_constant_from_another_module():
    """Only functions may be imported (called at run time, outside the compiled code)."""
    imported = [
        alias.name
        for node in ast.walk(ast.parse(KERNEL_SOURCE))
        if isinstance(node, ast.ImportFrom) and node.level
        for alias in node.names
    ]
    assert all(not name.isupper() for name in imported), imported
    assert imported, "the scan found no relative import at all"
