"""The same MLP as a ``torch.nn.Module``: every gradient comes from autograd, none by hand."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from manual.checks import check_activation, check_lambdas, check_sizes, check_X, check_y

# The torch.nn module matching each manual activation, with torch's defaults.
TORCH_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,  # beta=1, threshold=20, as manual.functions.softplus
}

_NUMPY_DTYPE = {torch.float32: np.float32, torch.float64: np.float64}


def torch_dtype(dtype) -> torch.dtype:
    """torch.float32/float64, or their NumPy or string names, as a torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype in _NUMPY_DTYPE:
            return dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
        if name in ("float32", "float64"):
            return getattr(torch, name)
    raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")


class TorchMLP(nn.Module):
    """``sizes = (d, h1, ..., m)``: Linear → activation → ... → Linear; ``forward`` returns logits.

    Layer l is ``self.layers[l-1]``; its weight and bias are the manual net's ``Wl`` and ``bl``.
    """

    def __init__(self, sizes, activation="relu", dtype=torch.float64):
        super().__init__()
        self.sizes = check_sizes(sizes)
        self.activation_name = check_activation(activation)
        dtype = torch_dtype(dtype)
        self.layers = nn.ModuleList(
            nn.Linear(fan_in, fan_out, dtype=dtype)
            for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:])
        )
        self.activation = TORCH_ACTIVATIONS[activation]()

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].weight.device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)

    def named_manual_parameters(self) -> dict:
        """{"W1": layers[0].weight, "b1": layers[0].bias, ...}: the live ``nn.Parameter``s."""
        named = {}
        for index, layer in enumerate(self.layers, start=1):
            named[f"W{index}"] = layer.weight
            named[f"b{index}"] = layer.bias
        return named

    @torch.no_grad()
    def load_params(self, params: dict) -> TorchMLP:
        """Copy a manual net's ``params`` (NumPy arrays, same names and shapes) into the layers."""
        own = self.named_manual_parameters()
        if set(params) != set(own):
            raise ValueError(f"params have keys {sorted(params)}, expected {sorted(own)}")
        for name, target in own.items():
            value = np.asarray(params[name])
            if value.shape != tuple(target.shape):
                raise ValueError(
                    f"params[{name!r}] has shape {value.shape}, expected {tuple(target.shape)}"
                )
            target.copy_(torch.from_numpy(np.array(value, dtype=_NUMPY_DTYPE[self.dtype])))
        return self

    @torch.no_grad()
    def export_params(self) -> dict:
        """The parameters as NumPy arrays (copies) under the manual names."""
        return {name: p.detach().cpu().numpy().copy() for name, p in self.named_manual_parameters().items()}

    def penalty(self, lambdas=None) -> torch.Tensor:
        """Σ_l λ_l1 ‖W_l‖₁ + λ_l2 ‖W_l‖₂² in torch ops, so autograd differentiates it."""
        lambdas = check_lambdas(lambdas, len(self.layers))
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        for index, layer in enumerate(self.layers):
            lam1, lam2 = lambdas[2 * index], lambdas[2 * index + 1]
            if lam1:
                total = total + lam1 * layer.weight.abs().sum()
            if lam2:
                total = total + lam2 * layer.weight.pow(2).sum()
        return total

    def loss(self, X: torch.Tensor, y: torch.Tensor, lambdas=None) -> torch.Tensor:
        """Mean cross-entropy of the batch + the elastic-net penalty (a scalar tensor)."""
        return F.cross_entropy(self(X), y) + self.penalty(lambdas)


def to_tensors(model: TorchMLP, X, y=None):
    """Check a NumPy batch like the manual twin does and move it to the model's dtype/device."""
    X = check_X(X, model.sizes[0], _NUMPY_DTYPE[model.dtype])
    if not X.flags.writeable:  # torch.from_numpy warns on read-only memory; copy those
        X = X.copy()
    X_t = torch.from_numpy(np.ascontiguousarray(X)).to(model.device)
    if y is None:
        return X_t
    y = check_y(y, X.shape[0], model.sizes[-1])
    return X_t, torch.from_numpy(y.astype(np.int64)).to(model.device)


def autograd_loss_and_grads(model: TorchMLP, X, y, lambdas=None):
    """(loss, {name: gradient}) from autograd, with the manual names and NumPy arrays."""
    X_t, y_t = to_tensors(model, X, y)
    model.zero_grad(set_to_none=True)
    loss = model.loss(X_t, y_t, lambdas)
    loss.backward()
    grads = {
        name: p.grad.detach().cpu().numpy().copy() for name, p in model.named_manual_parameters().items()
    }
    return float(loss.item()), grads


def autograd_input_grad(model: TorchMLP, X, y) -> np.ndarray:
    """∂L/∂X of the batch loss (mean over rows), from autograd; shape (K, d)."""
    X_t, y_t = to_tensors(model, X, y)
    X_t.requires_grad_(True)
    loss = F.cross_entropy(model(X_t), y_t)
    (grad_X,) = torch.autograd.grad(loss, X_t)
    return grad_X.detach().cpu().numpy()
