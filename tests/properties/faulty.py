"""Verifiers that misbehave in the ways issue 15 found: NaN, None, crashes, bad tokens."""

import numpy as np


def returns_nan(target, draft, drafts):
    return np.full(len(target), np.nan)


def returns_none(target, draft, drafts):
    return None


def unnormalised(target, draft, drafts):
    return 2.0 * np.asarray(target, dtype=float)


def lossy(target, draft, drafts):  # outputs q: loses the target
    return np.asarray(draft, dtype=float)


def raising_sampler(target, draft, drafts, generator):
    return _user_helper(target)


def _user_helper(target):
    raise ZeroDivisionError("the user's bug")


def nan_tokens_sampler(target, draft, drafts, generator):
    return np.full(len(drafts), np.nan)


def float_tokens_sampler(target, draft, drafts, generator):
    return np.full(len(drafts), 0.5)
