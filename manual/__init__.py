"""The homework's backprop, by hand, in NumPy alone (this package never imports torch).

``MLP`` is the teaching version (every line of backprop beside its formula); ``FastMLP`` is
the same network with the training loop's fast steps (``loss_and_grads_into``, ``sgd_step``).
"""

from . import functions
from .fast import FastMLP
from .finite_diff import finite_difference_grads, finite_difference_input_grad
from .functions import (
    abs,
    abs_grad,
    l1,
    l1_grad,
    l2_squared,
    l2_squared_grad,
    log_softmax,
    rect,
    rect_grad,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    sign,
    sign_grad,
    softmax,
    softplus,
    softplus_grad,
    tanh,
    tanh_grad,
)
from .mlp import MLP, init_params

__all__ = [
    "MLP",
    "FastMLP",
    "init_params",
    "functions",
    "finite_difference_grads",
    "finite_difference_input_grad",
    "abs", "abs_grad", "l1", "l1_grad", "l2_squared", "l2_squared_grad", "log_softmax",
    "rect", "rect_grad", "relu", "relu_grad", "sigmoid", "sigmoid_grad", "sign", "sign_grad",
    "softmax", "softplus", "softplus_grad", "tanh", "tanh_grad",
]

# The hand-written optimisers (torch.optim's SGD, momentum, Nesterov and Adam, step for step).
from . import optim  # noqa: E402
from .optim import SGD, Adam, make_optimizer  # noqa: E402

__all__ += ["optim", "SGD", "Adam", "make_optimizer"]
