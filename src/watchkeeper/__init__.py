"""Watchkeeper: a self-hosted maintenance control plane."""

import os

# numpy's BLAS would start a thread per core for each small least-squares fit (forecasts,
# capacity): on a busy server those threads fight the event loop and the other jobs for
# the cores, and a 0.4 ms fit took 35 ms. Watchkeeper's arrays are small: one thread is
# faster. Set before numpy is first imported; an operator's own setting wins. (Commands
# Watchkeeper runs inherit it: OpenBLAS programs among them run single-threaded unless the
# operator sets it.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.6.0"
