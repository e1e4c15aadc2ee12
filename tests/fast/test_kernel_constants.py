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


def _relative_imports(source: str) -> list[str]:
    return [
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.level
        for alias in node.names
    ]


def test_kernel_imports_no_constant_from_another_module():
    """Only functions may be imported (called at run time, outside the compiled code)."""
    imported = _relative_imports(KERNEL_SOURCE)
    assert all(not name.isupper() for name in imported), imported
    # the scan sees a planted constant import
    assert _relative_imports("from .fit import ARMIJO, fit_race\n") == ["ARMIJO", "fit_race"]
