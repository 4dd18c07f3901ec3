"""What a lockstep run depends on, checked before anything heavy is imported.

``TrainConfig`` holds the settings of ``compare.train_both`` (already resolved from the
dataset's defaults and the flags) and refuses a bad one with a ``ValueError``/``TypeError``
that names it; ``lr_at_epoch`` is the learning-rate schedule both twins follow. No torch
here, so the command line can check its settings at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from manual.checks import check_activation, check_lambdas, check_positive
from manual.optim import OPTIMIZERS

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Everything a lockstep run depends on (the CLI's flags, already checked)."""

    hidden: tuple = (800,)
    activation: str = "relu"
    optimizer: str = "nesterov"
    lr: float = 0.1
    momentum: float = 0.9
    lr_schedule: str = "constant"
    batch_size: int = 100
    epochs: int = 10
    lambdas: tuple | None = None
    dtype: str = "float32"
    seed: int = 0
    device: str = "cpu"
    early_stopping: int | None = None
    progress: bool = True

    def __post_init__(self):
        self.hidden = tuple(self.hidden)
        if not self.hidden or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive ints, got {list(self.hidden)}")
        check_activation(self.activation)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        self.lr = check_positive("lr", self.lr)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.early_stopping is not None and (
            isinstance(self.early_stopping, bool) or not isinstance(self.early_stopping, int) or self.early_stopping <= 0
        ):
            raise ValueError(f"early-stopping patience must be a positive int, got {self.early_stopping!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype!r}")
        self.dtype = np.dtype(self.dtype).name
        self.lambdas = check_lambdas(self.lambdas, len(self.hidden) + 1)
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")


def lr_at_epoch(config: TrainConfig, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (1-based), the same for both twins.

    constant: η_e = η.   cosine: η_e = η · ½ (1 + cos(π (e-1) / E)), from η down towards 0.
    """
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))
    return config.lr


def describe(config: TrainConfig, sizes, penalty: bool = True) -> str:
    """The run's settings in one short line, for the console and the figures' titles.

    e.g. '784-800-10 relu · nesterov η=0.1 μ=0.9, cosine · batch 50 · L2 1e-4 on each W · float32'
    """
    step = f"{config.optimizer} η={short(config.lr)}"
    if config.optimizer in ("momentum", "nesterov"):
        step += f" μ={short(config.momentum)}"
    if config.lr_schedule != "constant":
        step += f", {config.lr_schedule}"
    parts = [f"{'-'.join(map(str, sizes))} {config.activation}", step, f"batch {config.batch_size}",
             describe_lambdas(config.lambdas), config.dtype]
    return " · ".join(parts if penalty else parts[:3] + parts[4:])


def short(value: float) -> str:
    """A hyperparameter as people write it: 0.1, 0.03, 1e-4 (not 0.0001), 2.5e-5."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def lambda_pair(lambdas, layer: int) -> tuple:
    """(λ_l1, λ_l2) of weight matrix ``layer``, counted from 1 as the homework does (1 = W1).

    The homework's flat list is [λ1_1, λ1_2, λ2_1, λ2_2, ...]: the L1 then the L2 coefficient of
    each weight matrix, in order. This is the one place compare/ reads that layout.
    """
    n_layers = len(lambdas) // 2
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not 1 <= layer <= n_layers:
        raise ValueError(f"layer must be an int from 1 to {n_layers} (the lambdas' weight matrices), got {layer!r}")
    return lambdas[2 * layer - 2], lambdas[2 * layer - 1]


def lambda_pairs(lambdas) -> list:
    """[(λ1_1, λ1_2), (λ2_1, λ2_2), ...]: ``lambda_pair`` of every weight matrix, in order."""
    return [lambda_pair(lambdas, layer) for layer in range(1, len(lambdas) // 2 + 1)]


def flat_lambdas(pairs) -> tuple:
    """The flat homework list of [(l1, l2) per weight matrix]: the inverse of ``lambda_pairs``."""
    return tuple(value for pair in pairs for value in pair)


def describe_lambdas(lambdas) -> str:
    """'no penalty', 'L2 1e-4 on each W', or the flat list when the layers differ."""
    pairs = lambda_pairs(lambdas)
    if not any(l1 or l2 for l1, l2 in pairs):
        return "no penalty"
    if len(set(pairs)) == 1:
        l1, l2 = pairs[0]
        terms = [f"L1 {short(l1)}"] * bool(l1) + [f"L2 {short(l2)}"] * bool(l2)
        return f"{' + '.join(terms)} on each W"
    return "λ " + " ".join(short(value) for value in lambdas)


def plural(n: int, word: str) -> str:
    """'1 epoch', '3 epochs': a count with its noun."""
    return f"{n} {word}{'' if n == 1 else 's'}"
