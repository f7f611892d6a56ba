"""Runnable training examples (``python examples/train_digits.py``, ``python examples/train_gpt.py``).

A package so that benchmarks and tests can import their pieces (``from examples.train_gpt import GPTConfig,
build_model``) when run from the repository root.
"""
