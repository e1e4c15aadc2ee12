"""Batched PyTorch verifiers: global resolution and the classic baselines (CPU and CUDA)."""
from multidraft.verifiers import register_verifier

from .solver import GlobalResolution, Plan, PlanStatus, global_resolution

register_verifier("global_resolution", GlobalResolution)

__all__ = ["GlobalResolution", "Plan", "PlanStatus", "global_resolution"]
