"""Built-in verifiers come from the multidraft.verifiers entry points (pyproject.toml)."""

import importlib.metadata

import pytest

import multidraft as md
from multidraft.fast import BASELINE_FACTORIES, GlobalResolution
from multidraft.verifiers import ENTRY_POINT_GROUP


def test_entry_points_name_every_built_in_verifier():
    names = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert names == {"global_resolution", *BASELINE_FACTORIES}, "reinstall: pip install --no-deps -e ."
    assert set(md.list_verifiers()) >= names


@pytest.mark.parametrize("name", ["global_resolution", *BASELINE_FACTORIES])
def test_each_entry_point_builds_a_new_verifier_of_its_name(name):
    first, second = md.get_verifier(name), md.get_verifier(name)
    assert first is not second and first.name == name
    if name == "global_resolution":
        assert isinstance(first, GlobalResolution)


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(md.InvalidInputError, match="no built-in verifier named 'nope'; known: canonical"):
        md.get_verifier("nope")


def test_a_registered_name_takes_precedence(monkeypatch):
    from multidraft import verifiers

    monkeypatch.setitem(verifiers._REGISTRY, "rrs", lambda: "mine")
    assert md.get_verifier("rrs") == "mine"
