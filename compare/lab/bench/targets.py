"""The speed targets of the hand-written matrix version: checked and printed, never asserted."""

from __future__ import annotations

TARGET_RATIO = 1.0          # manual matrix ≤ 1.0× torch CPU time ...
TARGET_GAP_SLACK = 0.05     # ... or ≤ (torch/NumPy GEMM ceiling gap) + 5% where NumPy's BLAS is slower
TARGET_EFFICIENCY = 0.80    # ≥ 80% of NumPy's GEMM ceiling at the large shapes
EFFICIENCY_SHAPES = ((512, 64), (800, 128))


def check_targets(rows):
    """The speed targets for each matrix row: list of dicts (printed and saved, not asserted)."""
    by = {(r["hidden"], r["batch_size"], r["dtype"], r["impl"]): r for r in rows}
    checks = []
    for r in rows:
        if r["impl"] != "matrix":
            continue
        t = by[(r["hidden"], r["batch_size"], r["dtype"], "torch")]
        gap = t["gemm_ceiling_gflops"] / r["gemm_ceiling_gflops"] - 1  # > 0: NumPy's GEMM is slower
        allowed = TARGET_RATIO + (gap + TARGET_GAP_SLACK if gap > 0 else 0.0)
        check = {
            "hidden": r["hidden"], "batch_size": r["batch_size"], "dtype": r["dtype"],
            "ratio_to_torch": r["ratio_to_torch"], "allowed_ratio": allowed,
            "numpy_gemm_gflops": r["gemm_ceiling_gflops"], "torch_gemm_gflops": t["gemm_ceiling_gflops"],
            "ratio_ok": r["ratio_to_torch"] <= allowed,
        }
        if (r["hidden"], r["batch_size"]) in EFFICIENCY_SHAPES:
            check["efficiency"] = r["efficiency"]
            check["efficiency_ok"] = r["efficiency"] >= TARGET_EFFICIENCY
        checks.append(check)
    return checks
