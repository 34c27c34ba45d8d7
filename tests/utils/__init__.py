"""Helpers shared by the tests (and by benchmarks/image_figures.py, which imports `tests.utils.registry`).

Nothing here imports pytest at module level or the Docker SDK at all: importing a helper never
needs a test run or a Docker engine.
"""
