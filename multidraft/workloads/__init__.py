"""Workloads: batches of (target p, draft q) laws to test and benchmark verifiers on.

* :func:`llm_like_batch` -- synthetic LLM-like pairs with a calibrated single-draft
  acceptance (:mod:`.synthetic`);
* :func:`text_workload` -- pairs from real text: a BPE tokenizer and two Kneser-Ney n-gram
  models trained on CPython's pydoc help text (:mod:`.text`, :mod:`.bpe`, :mod:`.ngram`);
* :func:`from_logits` -- pairs from users' own logits or probabilities (:mod:`.io`);
* :func:`save_workload` / :func:`load_workload` -- the ``.npz`` file format (:mod:`.io`);
* :func:`summarize` -- mean 1 - TV and mean alpha* for a few n (:mod:`.stats`).

Every generator returns a :class:`Workload` with float64 ``target``/``draft`` of shape (B, V)
and a ``meta`` dict; everything is deterministic given its arguments (explicit seeds).
See docs/workloads.md for the models and measured statistics.
"""

from .base import Workload
from .io import from_logits, load_workload, save_workload
from .stats import Summary, single_draft_acceptance, summarize
from .synthetic import Calibration, calibrate_correlation, llm_like, llm_like_batch
from .text import text_models, text_workload
from .textlm import TextLM, pair_acceptance, text_pair

__all__ = [
    "Workload",
    "from_logits",
    "load_workload",
    "save_workload",
    "Summary",
    "single_draft_acceptance",
    "summarize",
    "Calibration",
    "calibrate_correlation",
    "llm_like",
    "llm_like_batch",
    "text_models",
    "text_workload",
    "TextLM",
    "pair_acceptance",
    "text_pair",
]
