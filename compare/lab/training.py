"""Train the two twins in lockstep: same start, same minibatches in the same order.

The manual twin (``manual.MLP`` + a hand-written optimiser from ``manual.optim``) and the
torch twin (``reference.TorchMLP`` + the matching ``torch.optim`` class) start from the
same parameters (torch loads the manual net's) and, batch after batch, take one step each
on the very same rows. After every epoch both are evaluated on train/valid/test and the
largest absolute difference between their parameters is measured: in float64 it stays at
rounding level, which is the proof that the hand-written backprop *and* optimiser are
torch's.

Memory: the training set is shuffled once per epoch into one preallocated buffer
(``np.take(..., out=buffer)``) and the minibatches are views (slices) of that buffer.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from compare.lab.config import TrainConfig, lr_at_epoch
from manual import MLP, FastMLP, functions
from manual.checks import check_X, check_y
from manual.optim import make_optimizer
from reference import TorchMLP, to_tensors, torch_dtype

TWINS = ("manual", "torch")
EVAL_CHUNK = 10_000  # rows per forward pass when evaluating a whole set


def make_torch_optimizer(config: TrainConfig, parameters):
    """The ``torch.optim`` twin of ``manual.optim.make_optimizer(config.optimizer, ...)``."""
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    momentum = 0.0 if config.optimizer == "sgd" else config.momentum
    return torch.optim.SGD(parameters, lr=config.lr, momentum=momentum, dampening=0,
                           nesterov=config.optimizer == "nesterov")


class Twins:
    """The manual net and its torch twin, each with its optimiser, starting from equal parameters."""

    def __init__(self, config: TrainConfig, n_features: int, n_classes: int):
        if config.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda asked for, but torch sees no CUDA device here")
        self.config = config
        sizes = (n_features, *config.hidden, n_classes)
        self.manual = FastMLP(sizes, activation=config.activation, seed=config.seed, dtype=config.dtype)
        self.torch = TorchMLP(sizes, activation=config.activation, dtype=config.dtype)
        self.torch.load_params(self.manual.params)  # the torch twin starts where the manual one does
        self.torch.to(config.device)
        self.device = torch.device(config.device)
        self.manual_optimizer = make_optimizer(config.optimizer, config.lr, momentum=config.momentum)
        self._grads = None  # the manual twin's gradient arrays, reused from step to step
        self.torch_optimizer = make_torch_optimizer(config, self.torch.parameters())

    def set_lr(self, lr: float) -> None:
        self.manual_optimizer.lr = lr
        for group in self.torch_optimizer.param_groups:
            group["lr"] = lr

    def manual_step(self, X, y) -> float:
        """One step of the manual twin on rows of the training set (checked once in ``train_lockstep``).

        ``loss_and_grads_into`` is ``loss_and_grads(mode="matrix")`` bit for bit, but writes into
        the previous step's gradient arrays and skips re-checking every value of every batch.
        Plain SGD takes ``FastMLP.sgd_step``: the same step with η folded into bprop.
        """
        if self.config.optimizer == "sgd":
            return self.manual.sgd_step(X, y, self.manual_optimizer.lr, self.config.lambdas)
        loss, self._grads = self.manual.loss_and_grads_into(self._grads, X, y, self.config.lambdas)
        self.manual_optimizer.step(self.manual.params, self._grads)
        return loss

    def torch_step(self, X_t, y_t) -> float:
        self.torch_optimizer.zero_grad(set_to_none=True)
        loss = self.torch.loss(X_t, y_t, self.config.lambdas)
        loss.backward()
        self.torch_optimizer.step()
        return loss.detach()

    def max_param_diff(self) -> float:
        """max over all parameters of |θ_manual - θ_torch|."""
        torch_params = self.torch.export_params()
        return max(
            float(np.max(np.abs(self.manual.params[name].astype(np.float64) - torch_params[name])))
            for name in self.manual.params
        )


class ShuffledBatches:
    """One seeded permutation per epoch, shared by both twins; batches are views of one buffer.

    ``shuffle()`` gathers the rows of the epoch's order into a preallocated buffer (no copy per
    minibatch); the order is drawn from ``seed``, or given (``shuffle(order)``: the benchmark
    gives every implementation the same one). An epoch takes ``n_examples`` rows (default: all),
    the first ``n_examples`` of the order. On the CPU the torch twin reads the NumPy buffer
    itself (shared memory); on a GPU its rows are gathered there, from a copy of the set kept
    on the device, and ``numpy_side=False`` leaves the NumPy buffer out (a loop that reads only
    the torch side: the benchmark's torch-cuda row).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, seed: int, device="cpu",
                 n_examples: int | None = None, numpy_side: bool = True):
        self.n = len(y) if n_examples is None else n_examples
        if not 0 < self.n <= len(y):
            raise ValueError(f"an epoch of {self.n} examples does not fit the training set ({len(y)} examples)")
        if batch_size > self.n:
            raise ValueError(f"batch size {batch_size} is larger than the training set ({self.n} examples)")
        self.X, self.y, self.batch_size = X, y, batch_size
        self.rng = np.random.default_rng([seed, 1])  # the minibatch order, independent of the init
        self.device = torch.device(device)
        self.numpy_side = numpy_side or self.device.type == "cpu"  # on the CPU torch reads the NumPy buffer
        if self.numpy_side:
            self.X_buffer = np.empty((self.n, *X.shape[1:]), dtype=X.dtype)
            self.y_buffer = np.empty(self.n, dtype=y.dtype)
        if self.device.type == "cpu":
            self.X_torch = torch.from_numpy(self.X_buffer)
            self.y_torch = torch.from_numpy(self.y_buffer)
        else:
            self.X_device = torch.from_numpy(X).to(self.device)
            self.y_device = torch.from_numpy(y.astype(np.int64)).to(self.device)
            self.X_torch = torch.empty((self.n, *X.shape[1:]), dtype=torch_dtype(X.dtype), device=self.device)
            self.y_torch = torch.empty(self.n, dtype=torch.int64, device=self.device)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def shuffle(self, order: np.ndarray | None = None) -> None:
        """Gather the epoch's rows: those of ``order`` (a permutation of the set's rows), else of a new
        seeded permutation; the first ``n_examples`` of it."""
        if order is None:
            order = self.rng.permutation(len(self.y))
        elif len(order) < self.n:
            raise ValueError(f"an order of {len(order)} rows is shorter than an epoch ({self.n} examples)")
        order = order[: self.n]
        if self.numpy_side:
            # mode="clip": with the default mode="raise" NumPy fills a hidden temporary as large as
            # the buffer before copying it to `out`. A permutation has no out-of-range index to clip.
            np.take(self.X, order, axis=0, out=self.X_buffer, mode="clip")
            np.take(self.y, order, out=self.y_buffer, mode="clip")
        if self.device.type != "cpu":
            index = torch.from_numpy(order).to(self.device)
            torch.index_select(self.X_device, 0, index, out=self.X_torch)
            torch.index_select(self.y_device, 0, index, out=self.y_torch)

    def __iter__(self):
        """(X, y, X_torch, y_torch) for each minibatch of the current order; the last may be smaller."""
        for start in range(0, self.n, self.batch_size):
            stop = start + self.batch_size
            yield (self.X_buffer[start:stop], self.y_buffer[start:stop],
                   self.X_torch[start:stop], self.y_torch[start:stop])

    def numpy_batches(self):
        """(X, y) for each minibatch: the manual side alone (a loop that times only it)."""
        for start in range(0, self.n, self.batch_size):
            yield self.X_buffer[start:start + self.batch_size], self.y_buffer[start:start + self.batch_size]

    def torch_batches(self):
        """(X_torch, y_torch) for each minibatch: the torch side alone."""
        for start in range(0, self.n, self.batch_size):
            yield self.X_torch[start:start + self.batch_size], self.y_torch[start:start + self.batch_size]


def evaluate_manual(net: MLP, X, y, chunk=EVAL_CHUNK):
    """(mean negative log-likelihood, error rate) of the manual net over a whole set."""
    nll_sum, wrong = 0.0, 0
    for start in range(0, len(y), chunk):
        logits = net.logits(X[start : start + chunk])
        labels = y[start : start + chunk]
        log_probs = functions.log_softmax(logits, axis=1)
        nll_sum -= float(np.sum(log_probs[np.arange(len(labels)), labels], dtype=np.float64))
        wrong += int(np.count_nonzero(np.argmax(logits, axis=1) != labels))
    return nll_sum / len(y), wrong / len(y)


@torch.no_grad()
def evaluate_torch(model: TorchMLP, X, y, chunk=EVAL_CHUNK):
    """(mean negative log-likelihood, error rate) of the torch twin over a whole set."""
    nll_sum, wrong = 0.0, 0
    for start in range(0, len(y), chunk):
        X_t = torch.from_numpy(X[start : start + chunk]).to(model.device)
        y_t = torch.from_numpy(y[start : start + chunk]).to(model.device)
        logits = model(X_t)
        nll_sum += float(F.cross_entropy(logits, y_t, reduction="sum").to(torch.float64))
        wrong += int((logits.argmax(dim=1) != y_t).sum())
    return nll_sum / len(y), wrong / len(y)


def torch_logits(model: TorchMLP):
    """``logits(points) -> (n, m) scores`` (NumPy in, NumPy out) for the torch twin, like ``MLP.logits``."""
    @torch.no_grad()
    def logits(points):
        return model(to_tensors(model, points)).cpu().numpy()

    return logits


def _evaluate(evaluate, model, data) -> dict:
    scores = {}
    for part in ("train", "valid", "test"):
        split = getattr(data, part)
        scores[f"{part}_loss"], scores[f"{part}_error"] = evaluate(model, split.X, split.y)
    return scores


def train_lockstep(twins: Twins, data, progress=None):
    """Train ``twins`` on ``data`` (a ``compare.lab.data.DataSet``); yield one record per epoch.

    A record is ``{"epoch", "lr", "manual": {...}, "torch": {...}, "max_param_diff"}`` where
    each twin has train/valid/test mean loss (negative log-likelihood, penalty left out) and
    error rate, and ``seconds``: its own time for the epoch (steps + evaluation).
    With ``config.early_stopping = P`` it stops once the manual twin's validation error has
    not improved for P epochs. ``progress(epoch, n_batches)``, if given, returns a bar
    (``update()``, ``close()``) that advances once per minibatch, e.g. a ``tqdm``.
    """
    config = twins.config
    # Check every value of the training set once (shape, dtype, finite, labels in range),
    # so the steps can trust its rows.
    check_X(data.train.X, twins.manual.sizes[0], twins.manual.dtype)
    check_y(data.train.y, len(data.train.X), twins.manual.sizes[-1])
    batches = ShuffledBatches(data.train.X, data.train.y, config.batch_size, config.seed, config.device)
    best_error, epochs_since_best = math.inf, 0
    for epoch in range(1, config.epochs + 1):
        lr = lr_at_epoch(config, epoch)
        twins.set_lr(lr)
        batches.shuffle()
        seconds = {"manual": 0.0, "torch": 0.0}
        bar = progress(epoch, len(batches)) if progress is not None else None
        try:
            for X, y, X_t, y_t in batches:
                start = time.perf_counter()
                twins.manual_step(X, y)
                middle = time.perf_counter()
                twins.torch_step(X_t, y_t)
                if config.device == "cuda":
                    torch.cuda.synchronize()
                seconds["manual"] += middle - start
                seconds["torch"] += time.perf_counter() - middle
                if bar is not None:
                    bar.update()
        finally:  # also on Ctrl-C: the bar's line is cleared before anything else is printed
            if bar is not None:
                bar.close()
        record = {"epoch": epoch, "lr": lr}
        for twin, evaluate, model in (("manual", evaluate_manual, twins.manual),
                                      ("torch", evaluate_torch, twins.torch)):
            start = time.perf_counter()
            scores = _evaluate(evaluate, model, data)
            scores["seconds"] = seconds[twin] + time.perf_counter() - start
            record[twin] = scores
        record["max_param_diff"] = twins.max_param_diff()
        yield record

        if config.early_stopping is not None:
            valid_error = record["manual"]["valid_error"]
            if valid_error < best_error:
                best_error, epochs_since_best = valid_error, 0
            else:
                epochs_since_best += 1
                if epochs_since_best >= config.early_stopping:
                    return
