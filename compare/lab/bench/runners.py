"""One training epoch of each implementation: forward, backward and SGD update (``p -= lr·g``)
over every minibatch, the same work for all.

Each runner shuffles once per epoch into its preallocated buffer with the lockstep training's
``ShuffledBatches`` (the order given: the same permutation for every implementation), then
takes minibatches as views of it; the shuffle is part of the epoch timed.
"""

from __future__ import annotations

import numpy as np

from compare.lab.bench.settings import LR, SEED
from compare.lab.training import ShuffledBatches
from manual.checks import check_X, check_y
from manual.fast import FastMLP
from manual.mlp import MLP


class ManualRunner:
    """The NumPy net; one epoch = shuffle into a buffer, then a gradient and p -= lr·g per minibatch.

    ``matrix`` takes the training fast path, ``FastMLP.sgd_step``: the data set is checked once
    here (``check_X``/``check_y``), one set of step arrays serves every minibatch, and η is
    folded into bprop. ``loop`` is the homework's ``loss_and_grads(mode="loop")``, as written;
    it runs on the first ``n_examples`` of each order.
    """

    def __init__(self, sizes, dtype, X, y, batch, mode, n_examples=None):
        self.net = FastMLP(sizes, activation="relu", seed=SEED, dtype=dtype)
        self.X = check_X(X, sizes[0], self.net.dtype)  # validate the data set once, not per minibatch
        self.y = check_y(y, len(self.X), sizes[-1])
        self.mode = mode
        self.batches = ShuffledBatches(self.X, self.y, batch, SEED, n_examples=n_examples)

    def epoch(self, order):
        self.batches.shuffle(order)
        net, params = self.net, self.net.params
        for X, y in self.batches.numpy_batches():  # views of the shuffled buffer
            if self.mode == "loop":
                _, grads = net.loss_and_grads(X, y, mode="loop")
                for name, g in grads.items():  # θ ← θ - η g
                    params[name] -= LR * g
            else:
                net.sgd_step(X, y, LR)  # the same, η folded into bprop (one pass per parameter)


class TorchRunner:
    """The torch twin: zero_grad, cross_entropy, backward, SGD step per batch.

    On the CPU its minibatches are views of the NumPy buffer; on a GPU the set stays on the
    device and is shuffled there.
    """

    def __init__(self, sizes, dtype, X, y, batch, device="cpu"):
        import torch

        from reference.model import TorchMLP

        self.torch, self.device = torch, device
        init = MLP(sizes, activation="relu", seed=SEED, dtype=dtype).params
        self.model = TorchMLP(sizes, activation="relu", dtype=dtype).to(device).load_params(init)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.batches = ShuffledBatches(X, y.astype(np.int64), batch, SEED, device=device, numpy_side=False)

    def epoch(self, order):
        torch, model, opt = self.torch, self.model, self.opt
        self.batches.shuffle(order)
        for X, y in self.batches.torch_batches():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            opt.step()
        if self.device != "cpu":
            torch.cuda.synchronize()
