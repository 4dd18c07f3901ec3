"""NumPy's BLAS and torch run with the same number of threads.

Set through threadpoolctl when installed, else through OpenBLAS's own ``*_set_num_threads``
found in the library NumPy loaded; ``set_threads`` says which.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np


def openblas_libraries() -> list:
    """The OpenBLAS shared libraries shipped inside NumPy's wheel (``numpy.libs``), if any."""
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return sorted(glob.glob(os.path.join(libdir, "*openblas*.so*")))


class NumpyBlasThreads:
    """Get/set the thread count of NumPy's BLAS: threadpoolctl if present, else OpenBLAS's API."""

    def __init__(self):
        self.how = "unavailable (left as is)"
        self._get = self._set = None
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController().select(user_api="blas")
            numpy_libs = [lib for lib in ctl.lib_controllers if "numpy" in lib.filepath]
            if numpy_libs:
                lib = numpy_libs[0]
                self._get = lambda: lib.num_threads
                self._set = lib.set_num_threads
                self.how = f"threadpoolctl ({lib.internal_api})"
                return
        except ImportError:
            pass
        for path in openblas_libraries():
            lib = ctypes.CDLL(path)  # already loaded by NumPy: same handle
            for get_name, set_name in (
                ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
                ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                ("openblas_get_num_threads", "openblas_set_num_threads"),
            ):
                if hasattr(lib, get_name) and hasattr(lib, set_name):
                    getter, setter = getattr(lib, get_name), getattr(lib, set_name)
                    getter.restype = ctypes.c_int
                    setter.argtypes = [ctypes.c_int]
                    self._get, self._set = getter, setter
                    self.how = f"OpenBLAS {set_name}() via ctypes (threadpoolctl not installed)"
                    return

    def get(self):
        return int(self._get()) if self._get else None

    def set(self, n: int):
        if self._set:
            self._set(int(n))


def set_threads(n=None):
    """Give NumPy's BLAS and torch the same thread count; returns (n, how)."""
    import torch

    blas = NumpyBlasThreads()
    if n is None:
        n = blas.get() or torch.get_num_threads()
    blas.set(n)
    torch.set_num_threads(n)
    got = blas.get()
    if got is not None and got != n:
        raise RuntimeError(f"asked NumPy's BLAS for {n} threads, it reports {got}")
    return n, f"NumPy BLAS: {blas.how}; torch: torch.set_num_threads({n})"
