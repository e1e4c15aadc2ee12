"""Hypothesis strategies, the property suite and the checker behind ``multidraft check``."""
