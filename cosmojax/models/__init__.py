"""Flax Linen models: pure ``init``/``apply``, no hidden state."""
