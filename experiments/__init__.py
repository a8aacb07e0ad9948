"""Experiments and benchmarks built on the simulator (run them with ``python -m``)."""
