"""The torch.nn twin of ``manual.MLP``: the same network, gradients from autograd."""

from .model import (
    TORCH_ACTIVATIONS,
    TorchMLP,
    autograd_input_grad,
    autograd_loss_and_grads,
    to_tensors,
    torch_dtype,
)

__all__ = ["TorchMLP", "TORCH_ACTIVATIONS", "autograd_loss_and_grads", "autograd_input_grad", "to_tensors", "torch_dtype"]
