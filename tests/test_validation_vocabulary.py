"""The parameter vocabulary of multidraft.validation: choices, ranges, range specs, sizes, tensors."""

import re

import numpy as np
import pytest
import torch

from multidraft.validation import (
    InvalidInputError,
    check_choice,
    check_float,
    check_int,
    check_n,
    check_probability,
    check_range,
    check_same_vocab,
    is_torch_tensor,
)


def _raises(message, fn, *args, **kwargs):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        fn(*args, **kwargs)


def test_choice_names_the_argument_the_choices_and_the_value():
    assert check_choice("b", "mode", ("a", "b")) == "b"
    _raises("mode: expected one of 'a', 'b', got 'c'", check_choice, "c", "mode", ("a", "b"))
    _raises("mode: expected one of 'a' or a law, got ['a']", check_choice, ["a"], "mode", ("a",), hint="or a law")


@pytest.mark.parametrize("value, expected", [(3, 3), (np.int64(3), 3), (3.0, 3)])
def test_int_accepts_integers_in_every_spelling(value, expected):
    got = check_int(value, "k", min_value=0)
    assert got == expected and type(got) is int


@pytest.mark.parametrize(
    "value, message",
    [
        (True, "k: expected an integer >= 0, got True"),
        (2.5, "k: expected an integer >= 0, got 2.5"),
        (float("nan"), "k: expected an integer >= 0, got nan"),
        ("x", "k: expected an integer >= 0, got 'x'"),
        ("3", "k: expected an integer >= 0, got '3'"),
        (None, "k: expected an integer >= 0, got None"),
        (-1, "k: expected an integer >= 0, got -1"),
    ],
)
def test_int_refuses_with_the_bound_in_the_message(value, message):
    _raises(message, check_int, value, "k", min_value=0)


def test_int_bounds_both_sides():
    _raises("k: expected an integer in [1, 3], got 4", check_int, 4, "k", min_value=1, max_value=3)
    _raises("k: expected an integer <= 3, got 4", check_int, 4, "k", max_value=3)


def test_float_open_and_closed_bounds():
    assert check_float(np.float32(0.5), "a", min_value=0, max_value=1) == 0.5
    assert check_float("1e-3", "a") == 1e-3
    assert check_float(0, "a", min_value=0) == 0.0
    _raises("a: expected a finite number in (0, 1), got 0", check_probability, 0, "a")
    _raises("a: expected a finite number in (0, 1), got 1", check_probability, 1.0, "a")
    _raises("a: expected a finite number in (0, 1), got nan", check_probability, float("nan"), "a")
    _raises("a: expected a finite number > 0, got inf", check_float, float("inf"), "a", min_value=0, include_min=False)
    _raises("a: expected a finite number, got True", check_float, True, "a")


@pytest.mark.parametrize(
    "value, expected", [(3, (3, 3)), ("3", (3, 3)), ("2-6", (2, 6)), ((2, 6), (2, 6)), ([1, 1], (1, 1))]
)
def test_range_specs(value, expected):
    assert check_range(value, "vocab") == expected


@pytest.mark.parametrize(
    "value, message",
    [
        ("2-x", "vocab: expected an integer N or a range LO-HI (like 2-6), got '2-x'"),
        ("1-2-3", "vocab: expected an integer N or a range LO-HI"),
        ("", "vocab: expected an integer N or a range LO-HI"),
        ("6-2", "vocab: expected a range LO-HI with LO <= HI, got 6-2"),
        ("0", "vocab: expected an integer >= 1, got 0"),
        ((0, 3), "vocab: expected an integer >= 1, got 0"),
        ((1, 2, 3), "vocab: expected an integer N, a pair (lo, hi) or a range LO-HI"),
    ],
)
def test_range_refusals_say_what_is_wrong(value, message):
    _raises(message, check_range, value, "vocab")


def test_vocab_range_message_does_not_speak_of_drafts():  # issue 15 item 17: `--vocab 0`
    with pytest.raises(InvalidInputError) as info:
        check_range("0", "vocab")
    assert "drafts" not in str(info.value)


def test_n_keeps_its_message():
    _raises("n: expected an integer number of drafts >= 1, got 0", check_n, 0)
    _raises("n: at most 8 drafts are supported here, got 9", check_n, 9, maximum=8)


def test_same_vocab():
    check_same_vocab(4, "target", 4, "the draft")
    _raises("target: vocabulary size 4 does not match the draft's 5", check_same_vocab, 4, "target", 5, "the draft")


def test_is_torch_tensor():
    assert is_torch_tensor(torch.zeros(2)) and is_torch_tensor(torch.nn.Parameter(torch.zeros(2)))
    assert not is_torch_tensor(np.zeros(2)) and not is_torch_tensor([0.0])

    class Fake:
        __module__ = "torch.fake"

        def detach(self):
            return self

    assert not is_torch_tensor(Fake())
