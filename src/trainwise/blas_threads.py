"""Run scikit-learn and SciPy fits with one BLAS thread inside a torch process.

Once torch is imported, its OpenMP threads keep spinning for a while after each operation,
and OpenBLAS's own threads then fight them for the same cores. On a 2-core machine the
linear baseline of a frames run (a logistic regression on 488 × 1,024 values) took 3.9 s of
CPU time this way and 0.4 s with one BLAS thread. The fits this applies to are small, so
one thread loses nothing where there is no fight either.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits


def one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS (OpenBLAS, MKL) runs on one thread; restored on leaving."""
    return threadpool_limits(limits=1, user_api="blas")
