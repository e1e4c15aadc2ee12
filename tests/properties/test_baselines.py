"""The registered verifiers pass the exact suite (skipped until they are registered)."""

from __future__ import annotations

import pytest

from multidraft.properties import verifier_suite
from multidraft.verifiers import list_verifiers

BASELINES = (
    "nss",
    "single_draft",
    "rrs",
    "rrs_without_replacement",
    "kseq",
    "canonical",
    "greedy",
    "global_resolution",
)


@pytest.mark.parametrize("name", BASELINES)
def test_registered_verifier_passes(name):
    if name not in list_verifiers():
        pytest.skip(f"{name} is not registered (yet)")
    verifier_suite(name, examples=25, n=(1, 3), vocab=(2, 5)).raise_if_failed()
