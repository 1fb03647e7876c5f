"""mcstudy: Numba-accelerated Monte Carlo study of Linux page-table freeing under memory pressure."""

__version__ = "0.1.0"
