"""The machine a benchmark ran on: which BLAS each library uses, the CPU, and how busy other
processes kept it meanwhile (on a shared host, the reason a timing may be off)."""

from __future__ import annotations

import ctypes
import os
import platform
import time

import numpy as np

from compare.lab.bench.threads import openblas_libraries


def blas_info() -> dict:
    """Versions, each library's BLAS (OpenBLAS's core when it says), the CPU and Python."""
    import torch

    info = {"numpy_version": np.__version__, "torch_version": torch.__version__}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        info["numpy_blas"] = "unknown"
    for path in openblas_libraries():
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            if hasattr(lib, name):
                getattr(lib, name).restype = ctypes.c_char_p
                info["numpy_blas"] += f" (core: {getattr(lib, name)().decode()})"
                break
    cfg = torch.__config__.show().replace("\n", ",")
    blas = [part.split("BLAS_INFO=", 1)[1].strip() for part in cfg.split(",") if "BLAS_INFO=" in part]
    info["torch_blas"] = blas[0] if blas else "unknown"
    info["torch_mkl"] = bool(torch.backends.mkl.is_available())
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info["cpu"] = cpu
    info["cpu_count"] = os.cpu_count()
    info["python"] = platform.python_version()
    return info


class ForeignLoad:
    """How many CPUs other processes kept busy meanwhile: (all busy jiffies - ours) / elapsed (Linux)."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
            busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle, iowait
            own = os.times()
            return busy, own.user + own.system + own.children_user + own.children_system, time.monotonic()
        except (OSError, ValueError, IndexError):
            return None

    def foreign_cpus(self):
        """CPUs kept busy by other processes since this object was made, on average; None off Linux."""
        end = self._sample()
        if self.start is None or end is None:
            return None
        hz = os.sysconf("SC_CLK_TCK")
        busy = (end[0] - self.start[0]) / hz
        own = end[1] - self.start[1]
        return max(0.0, busy - own) / max(end[2] - self.start[2], 1e-9)
