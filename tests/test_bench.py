"""compare.bench (its work in compare.lab.bench) and the fast training entry point: fast checks only, no timed assertion.

Speed targets live in the benchmark's own output (``python -m compare.bench``); here we
check what it counts, what it writes, and that the fast path computes exactly what the
plain one does.
"""

import json

import numpy as np
import pytest

from compare import bench
from compare.lab.bench import ceiling, flops, grid, noise, point, runners, settings, table, threads
from manual import MLP, FastMLP


def test_flop_count_formula():
    d, h, m = 784, 10, 10
    assert flops.flops_per_example((d, h, m)) == 4 * d * h + 6 * h * m
    assert flops.epoch_flops((d, h, m), 50_000) == 50_000 * (4 * d * h + 6 * h * m)
    # Two hidden layers: every layer but the first also back-propagates to its input.
    assert flops.flops_per_example((5, 7, 3, 2)) == 2 * (2 * 5 * 7 + 3 * 7 * 3 + 3 * 3 * 2)


def test_gemm_operands_match_the_flop_count():
    sizes, K = (6, 4, 5, 3), 7
    ops = ceiling.gemm_operands(sizes, K, np.random.default_rng(0), np.dtype(np.float64))
    counted = sum(2 * A.shape[0] * A.shape[1] * B.shape[1] for A, B, _ in ops)
    assert counted == K * flops.flops_per_example(sizes)
    for A, B, out in ops:
        assert out.shape == (A.shape[0], B.shape[1])


def test_grid_parser():
    assert bench._parse_grid("512x64,800X128") == ((512, 64), (800, 128))
    with pytest.raises(Exception, match="HIDDENxBATCH"):
        bench._parse_grid("512-64")


def test_tiny_run_writes_the_row_schema(tmp_path):
    path = tmp_path / "bench.json"
    code = bench.main([
        "--grid", "10x100", "--n-train", "300", "--repeats", "1", "--no-cuda", "--settle", "0",
        "--data-dir", str(tmp_path / "no-mnist-here"), "--json", str(path), "--plot", str(tmp_path / "bench.png"),
        "--no-progress",
    ])
    assert code == 0
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads(path.read_text())
    rows = result["rows"]
    assert {row["impl"] for row in rows} == {"loop", "matrix", "torch"}
    assert {row["dtype"] for row in rows} == {"float32", "float64"}
    for row in rows:
        assert set(row) == set(settings.ROW_KEYS)  # exactly: other tools read these rows
        assert (row["hidden"], row["batch_size"]) == (10, 100)
        assert row["seconds_per_epoch"] > 0 and row["gflops"] > 0 and row["gemm_ceiling_gflops"] > 0
        assert row["efficiency"] == pytest.approx(row["gflops"] / row["gemm_ceiling_gflops"])
        if row["impl"] == "torch":
            assert row["ratio_to_torch"] == 1.0
    assert len(result["samples"]) == len(rows)
    for row, sample in zip(rows, result["samples"]):
        assert set(sample) == set(settings.SAMPLE_KEYS)
        assert [sample[k] for k in ("hidden", "batch_size", "dtype", "impl")] == [
            row[k] for k in ("hidden", "batch_size", "dtype", "impl")]
        assert len(sample["epoch_seconds"]) == 1  # --repeats 1
        assert row["seconds_per_epoch"] == pytest.approx(float(np.median(sample["epoch_seconds"])))
        assert row["gemm_ceiling_gflops"] == pytest.approx(float(np.median(sample["gemm_ceiling_samples"])))
    meta = result["meta"]
    assert meta["data"].startswith("RANDOM")
    assert meta["threads"] >= 1 and "torch.set_num_threads" in meta["threads_how"]
    assert "4·d·d_h + 6·d_h·m" in meta["flops_formula"]
    assert {c["dtype"] for c in result["targets"]} == {"float32", "float64"}


def test_same_thread_count_for_numpy_and_torch():
    import torch

    before = torch.get_num_threads()
    try:
        n, how = threads.set_threads(1)
        assert n == 1 and torch.get_num_threads() == 1
        blas = threads.NumpyBlasThreads()
        assert blas.get() in (None, 1), how
    finally:
        threads.set_threads(before)


def _case(sizes, activation, K, dtype, seed):
    rng = np.random.default_rng(seed)
    net = FastMLP(sizes, activation=activation, seed=seed, dtype=dtype)
    for name, value in net.params.items():
        if name.startswith("b"):
            value[...] = rng.uniform(-0.5, 0.5, value.shape)
    X = rng.standard_normal((K, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=K)
    lambdas = list(rng.uniform(1e-3, 1e-1, 2 * (len(sizes) - 1)))
    return net, X, y, lambdas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("sizes", [(5, 7, 3), (6, 4, 5, 3)])
def test_fast_path_equals_plain_path_exactly(sizes, activation, dtype):
    net, X, y, lambdas = _case(sizes, activation, 16, dtype, seed=len(sizes))
    grads = None
    for start, lam in ((0, lambdas), (8, None), (3, lambdas)):  # reused buffers, varying batches
        Xb, yb = X[start:start + 8], y[start:start + 8]
        loss, plain = net.loss_and_grads(Xb, yb, lam, mode="matrix")
        previous = grads
        fast_loss, grads = net.loss_and_grads_into(grads, Xb, yb, lam)
        assert fast_loss == loss
        assert list(grads) == list(plain) == list(net.params)
        for name in plain:
            assert grads[name].dtype == plain[name].dtype
            np.testing.assert_array_equal(grads[name], plain[name])
            if previous is not None:
                assert grads[name] is previous[name]  # written into the same arrays


def test_fast_path_refuses_unchecked_input():
    net = FastMLP((4, 3, 2), dtype=np.float32)
    X = np.zeros((5, 4), dtype=np.float32)
    y = np.zeros(5, dtype=np.intp)
    with pytest.raises(TypeError, match="float32"):
        net.loss_and_grads_into(None, X.astype(np.float64), y)
    with pytest.raises(TypeError, match="shape"):
        net.loss_and_grads_into(None, X[:, :3], y)
    with pytest.raises(TypeError, match="labels"):
        net.loss_and_grads_into(None, X, y[:4])
    _, grads = net.loss_and_grads_into(None, X, y)
    with pytest.raises(ValueError, match="previous call"):
        net.loss_and_grads_into({"W1": grads["W1"]}, X, y)


def test_bench_epoch_is_plain_sgd():
    """One ManualRunner epoch equals loss_and_grads + p -= lr·g over the same minibatches."""
    rng = np.random.default_rng(0)
    X = rng.random((50, settings.D_IN))
    y = rng.integers(0, settings.N_CLASSES, 50)
    runner = runners.ManualRunner((settings.D_IN, 6, settings.N_CLASSES), np.float64, X, y, 16, "matrix")
    order = rng.permutation(50)
    net = MLP((settings.D_IN, 6, settings.N_CLASSES), seed=settings.SEED)
    for start in range(0, 50, 16):
        idx = order[start:start + 16]
        _, grads = net.loss_and_grads(X[idx], y[idx], mode="matrix")
        for name, g in grads.items():
            net.params[name] -= settings.LR * g
    runner.epoch(order)
    for name in net.params:
        np.testing.assert_allclose(runner.net.params[name], net.params[name], rtol=1e-13, atol=1e-15)


def test_every_runner_times_the_same_minibatches_in_the_same_order():
    """The runners shuffle with training's ShuffledBatches, the bench's order given: the rows of
    order[0:K], order[K:2K], ... for matrix and torch; the loop version the first whole batches."""
    n, K = 40, 16
    X = np.repeat(np.arange(n, dtype=np.float64)[:, None], settings.D_IN, axis=1)  # row i holds i
    y = np.arange(n) % settings.N_CLASSES
    sizes = (settings.D_IN, 3, settings.N_CLASSES)
    order = np.random.default_rng(5).permutation(n)
    expected = [order[start:start + K].tolist() for start in range(0, n, K)]  # the last batch: 8 rows
    matrix = runners.ManualRunner(sizes, np.float64, X, y, K, "matrix")
    torch_runner = runners.TorchRunner(sizes, np.float64, X, y, K)
    loop = runners.ManualRunner(sizes, np.float64, X, y, K, "loop", n_examples=2 * K)
    for runner in (matrix, torch_runner, loop):
        runner.batches.shuffle(order)
    assert [Xb[:, 0].astype(int).tolist() for Xb, _ in matrix.batches.numpy_batches()] == expected
    assert [Xb[:, 0].long().tolist() for Xb, _ in torch_runner.batches.torch_batches()] == expected
    assert [yb.tolist() for _, yb in torch_runner.batches.torch_batches()] == [
        [i % settings.N_CLASSES for i in batch] for batch in expected]
    assert [Xb[:, 0].astype(int).tolist() for Xb, _ in loop.batches.numpy_batches()] == expected[:2]
    with pytest.raises(ValueError, match="an order of 39 rows is shorter than an epoch"):
        matrix.batches.shuffle(order[:-1])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-6)])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("sizes", [(5, 7, 3), (6, 4, 5, 3)])
def test_sgd_step_is_loss_and_grads_then_update(sizes, activation, dtype, rtol):
    """sgd_step == loss_and_grads + θ -= η g, up to where η is multiplied in.

    η·(g/K) instead of (η/K)·g and the penalty's η·λ·W instead of λ·W then ×η: a few ulp of
    each step η g, far below the ulp of θ itself, hence rtol 1e-13 in float64 and 1e-6 in
    float32 (≈ 8 ulp of θ).
    """
    net, X, y, lambdas = _case(sizes, activation, 16, dtype, seed=7)
    ref = MLP(sizes, activation=activation, seed=0, dtype=dtype)
    ref.params = {name: value.copy() for name, value in net.params.items()}
    lr = 0.05
    for start, lam in ((0, lambdas), (8, None), (3, lambdas)):
        Xb, yb = X[start:start + 8], y[start:start + 8]
        expected_loss, grads = ref.loss_and_grads(Xb, yb, lam)
        for name, g in grads.items():
            ref.params[name] -= lr * g
        loss = net.sgd_step(Xb, yb, lr, lam)
        assert loss == pytest.approx(expected_loss, rel=rtol)  # the loss before the step
        for name in ref.params:
            assert net.params[name].dtype == np.dtype(dtype)
            np.testing.assert_allclose(net.params[name], ref.params[name], rtol=rtol, atol=rtol * 1e-3)


def test_sgd_step_keeps_params_apart_from_its_buffers():
    net, X, y, _ = _case((5, 7, 3), "relu", 8, np.float64, seed=1)
    net.sgd_step(X, y, 0.1)
    before = {name: value.copy() for name, value in net.params.items()}
    net.params = {name: value.copy() for name, value in net.params.items()}  # user swaps arrays
    net.sgd_step(X, y, 0.1)
    for name, value in net.params.items():
        assert not np.shares_memory(value, net._sgd_buffers[name])
        assert not np.array_equal(value, before[name])


@pytest.mark.parametrize("lr, error, match", [
    (0.0, ValueError, "lr must be a finite number > 0, got 0.0"),
    (-0.1, ValueError, "got -0.1"),
    (float("nan"), ValueError, "got nan"),
    (float("inf"), ValueError, "got inf"),
    (True, TypeError, "lr must be a number, got True"),
    ("0.1", TypeError, "got '0.1'"),
])
def test_sgd_step_rejects_bad_learning_rates(lr, error, match):
    net, X, y, _ = _case((5, 7, 3), "relu", 8, np.float64, seed=1)
    before = {name: value.copy() for name, value in net.params.items()}
    with pytest.raises(error, match=match):
        net.sgd_step(X, y, lr)
    for name, value in net.params.items():  # nothing was updated
        np.testing.assert_array_equal(value, before[name])


def test_sgd_step_refuses_unchecked_input():
    net, X, y, _ = _case((5, 7, 3), "relu", 8, np.float64, seed=1)
    with pytest.raises(TypeError, match="sgd_step takes a checked X: a float64 array"):
        net.sgd_step(X.astype(np.float32), y, 0.1)
    with pytest.raises(TypeError, match="integer labels"):
        net.sgd_step(X, y.astype(float), 0.1)
    with pytest.raises(ValueError, match="expected 4 lambdas"):
        net.sgd_step(X, y, 0.1, lambdas=[0.1])


def test_noisy_rows_names_rows_whose_epochs_spread_beyond_the_threshold():
    def row(impl, epochs):
        return {"hidden": 512, "batch_size": 64, "dtype": "float64", "impl": impl, "epoch_seconds": epochs}

    rows = [row("torch", [1.0, 1.5, 1.45]), row("matrix", [1.2, 2.5, 1.25]), row("torch-cuda", [1.4, 1.5]),
            row("loop", [1.0, noise.NOISY_SPREAD])]  # exactly at the threshold: not noisy
    assert noise.noisy_rows(rows) == ["(512, 64) float64 matrix ×2.08", "(512, 64) float64 torch ×1.50"]


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "0"], "--repeats: expected a whole number > 0, got '0'"),
    (["--repeats", "-3"], "got '-3'"),
    (["--n-train", "ten"], "--n-train: expected a whole number > 0, got 'ten'"),
    (["--threads", "0"], "--threads: expected a whole number > 0"),
    (["--settle", "-1"], "--settle: expected a number of seconds >= 0, got '-1'"),
    (["--settle", "nan"], "got 'nan'"),
    (["--grid", "512"], "expected HIDDENxBATCH"),
    (["--grid", "10x"], "--grid: expected HIDDENxBATCH[,HIDDENxBATCH...] such as 512x64,800x128, got '10x'"),
    (["--dtype", "float16"], "invalid choice: 'float16'"),
    (["--json", "/no/such/folder/bench.json"], "--json /no/such/folder/bench.json: there is no folder '/no/such/folder'"),
    (["--plot", "/no/such/folder/b.png"], "there is no folder '/no/such/folder'"),
    (["--grid", "10x100,10x50", "--n-train", "99"], "a batch of 100 is larger than the 99 examples of a timed epoch"),
])
def test_bad_flags_exit_2_with_one_message_before_any_timing(argv, message, capsys):
    try:
        code = bench.main(argv)
    except SystemExit as exit_info:  # argparse's own mistakes exit (one line), like any argparse tool
        code = exit_info.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("bench: error: ") and captured.err.count("\n") == 1  # no usage block
    assert message in captured.err
    assert captured.out == ""  # nothing was timed


def test_table_says_ratios_and_flags_an_efficiency_above_100_percent():
    row = {"hidden": 512, "batch_size": 64, "dtype": "float32", "impl": "loop", "seconds_per_epoch": 12.6,
           "gflops": 4.1, "ratio_to_torch": 129.59, "gemm_ceiling_gflops": 147.5, "efficiency": 0.028}
    assert "130×" in table.format_row(row) and "129.59" not in table.format_row(row)
    assert table.format_ratio(0.3912) == "0.39×"
    assert table.format_efficiency(0.82) == "82%" and table.format_efficiency(5.68) == "568%*"
    lines = table.format_targets([{"hidden": 512, "batch_size": 64, "dtype": "float32", "ratio_to_torch": 0.82,
                                   "allowed_ratio": 1.0, "numpy_gemm_gflops": 147.5, "torch_gemm_gflops": 157.0,
                                   "ratio_ok": True, "efficiency": 0.79, "efficiency_ok": False}])
    assert lines[1] == ("  d_h=512, K=64, float32: time ≤ torch's: met (0.82×); ≥ 80% of NumPy's GEMM ceiling: "
                        "not met (79.0%)")
    assert "MISS" not in "\n".join(lines)


def test_median_at_risk_counts_epochs_hit_by_a_burst():
    quiet = [1.20, 1.24, 1.18, 1.23]
    assert not noise.median_at_risk(quiet)
    assert not noise.median_at_risk([1.2, 2.5, 1.2, 1.2, 1.2, 1.2, 1.2])  # 1 of 7
    assert not noise.median_at_risk([1.24, 2.58, 2.52, 1.18, 1.23, 1.2, 1.2])  # 2 of 7
    assert noise.median_at_risk([1.24, 2.58, 2.52, 2.52, 1.18, 1.23, 1.2])  # 3 of 7 ≥ 40%
    assert not noise.median_at_risk([])


@pytest.mark.parametrize("at_risk, expected_epochs", [(False, 2), (True, 4)])
def test_a_point_takes_more_rounds_while_its_median_is_at_risk(monkeypatch, at_risk, expected_epochs):
    monkeypatch.setattr(noise, "median_at_risk", lambda seconds: at_risk)
    cfg = settings.Config(grid=((6, 50),), dtypes=("float64",), n_train=100, repeats=2, max_repeats=4,
                       loop_examples=50, gemm_rounds=1, gemm_round_s=0.001, settle_s=0.0, cuda=False)
    X, y, _ = grid.load_train("/no/mnist/here", cfg.n_train)
    rows, samples = point.bench_point(6, 50, "float64", X, y, cfg, use_cuda=False)
    assert [len(s["epoch_seconds"]) for s in samples] == [expected_epochs] * 3  # loop, matrix, torch
    assert {r["impl"] for r in rows} == {"loop", "matrix", "torch"}
