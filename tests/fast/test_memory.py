"""fast/memory.py: the heap thresholds that keep the kernel's freed arrays mapped."""

import platform
import subprocess
import sys

import pytest

CHECK = "from multidraft.fast.memory import keep_freed_memory as k; print(k(), k())"


def _run(env_value):
    import os

    env = dict(os.environ)
    if env_value is None:
        env.pop("MULTIDRAFT_KEEP_FREED_MEMORY", None)
    else:
        env["MULTIDRAFT_KEEP_FREED_MEMORY"] = env_value
    return subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_thresholds_apply_on_glibc_once_per_process():
    assert _run(None).split() == ["True", "True"]


def test_environment_variable_turns_it_off():
    assert _run("0").split() == ["False", "False"]
