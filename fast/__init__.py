"""Batched PyTorch verifiers: global resolution and the classic baselines (CPU and CUDA)."""
