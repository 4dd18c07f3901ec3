"""The benchmark as the console shows it: a header, one line per row, the targets, the figure's title."""

from __future__ import annotations

from compare.lab.bench.targets import TARGET_EFFICIENCY, TARGET_GAP_SLACK, TARGET_RATIO

NOISY_CEILING_NOTE = ("* above 100% of the GEMM ceiling: the ceiling's rounds were slowed by other processes "
                      "(a noisy ceiling), not a real efficiency; rerun that point on a quiet machine")


def format_header() -> str:
    return (f"{'hidden':>6} {'batch':>5} {'dtype':>7} {'impl':>10} {'s/epoch':>9} {'GFLOP/s':>8} "
            f"{'vs torch':>8} {'ceiling':>8} {'of ceiling':>10}")


def format_ratio(ratio: float) -> str:
    """An implementation's time over torch's: '0.39×', '1.00×', '130×' (no spurious digits)."""
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def format_efficiency(efficiency: float) -> str:
    """'82%', or '107%*' when above 100%: the ceiling's rounds ran slower than the epochs (noise)."""
    return f"{efficiency:.0%}" + ("*" if efficiency > 1 else "")


def format_row(r) -> str:
    return (f"{r['hidden']:>6} {r['batch_size']:>5} {r['dtype']:>7} {r['impl']:>10} "
            f"{r['seconds_per_epoch']:>9.3f} {r['gflops']:>8.1f} {format_ratio(r['ratio_to_torch']):>8} "
            f"{r['gemm_ceiling_gflops']:>8.1f} {format_efficiency(r['efficiency']):>10}")


def format_targets(targets) -> list:
    lines = ["targets (hand-written matrix version vs torch on the CPU):"]
    for c in targets:
        where = f"  d_h={c['hidden']}, K={c['batch_size']}, {c['dtype']}:"
        if c["allowed_ratio"] > TARGET_RATIO:
            goal = (f"time ≤ {c['allowed_ratio']:.2f}× torch's (NumPy's GEMM is slower than torch's here, "
                    f"{c['numpy_gemm_gflops']:.1f} vs {c['torch_gemm_gflops']:.1f} GFLOP/s: the gap "
                    f"+ {TARGET_GAP_SLACK:.0%} is allowed)")
        else:
            goal = "time ≤ torch's"
        line = f"{where} {goal}: {'met' if c['ratio_ok'] else 'not met'} ({format_ratio(c['ratio_to_torch'])})"
        if "efficiency" in c:
            line += (f"; ≥ {TARGET_EFFICIENCY:.0%} of NumPy's GEMM ceiling: "
                     f"{'met' if c['efficiency_ok'] else 'not met'} ({c['efficiency']:.1%})")
        lines.append(line)
    return lines


def plot_title(meta: dict) -> str:
    """The figure's title: what was timed, on what, and how busy other processes kept the machine."""
    title = f"one MNIST epoch, {meta['threads']} threads ({meta['cpu']})"
    if meta.get("quick"):
        title += f", {meta['timing']}"
    if meta.get("other_processes_cpus") is not None:
        title += (f"\nother processes kept {meta['other_processes_cpus']:.2f} of {meta.get('cpu_count', '?')} CPUs "
                  "busy during the run" + (": timings disturbed" if meta["other_processes_cpus"] > 0.1 else ""))
    return title
