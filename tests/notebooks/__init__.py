"""Tests that run real Jupyter kernels: the bundled notebooks and the %ccviz magics."""
