"""Between the homework's layout, in which the reference and the diagnosis work, and an assignment's.

Every case is defined in the homework's layout (W as (out, in), b as (h,), X as (K, d) rows,
integer labels, the mean NLL plus an elastic-net penalty). This module says what the
student's factory is called with, what shapes its params have, what its method is given, and
how its answer is read back into the homework's layout — so that the comparison and every
diagnosis stay one piece of code for all courses:

- layouts (weights, biases, inputs, labels) are exact rearrangements;
- ``penalty = "l2"`` with one ``reg`` is the elastic net with λ_l1 = 0 and λ_l2 = reg·l2_factor
  on every layer, and ``"none"`` is the elastic net with every λ = 0: the case is restated so;
- ``reduction = "sum"`` is read back as loss_mean = (loss_sum − P)/K + P (and the same for each
  gradient), where P is the penalty's part, which is not summed over the batch.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compare.grader.course import cases as C
from compare.grader.course.assignment import Assignment
from compare.grader.sandbox.host import KEYWORDS
from compare.lab.config import flat_lambdas


def factory_call(a: Assignment, name: str, sizes, activation: str, reg: float = 0.0) -> tuple[list, str]:
    """(the factory's arguments, as JSON values, and how the call reads in a message). A keywords
    call's arguments end with ``{KEYWORDS: {name: value}}``; ``reg`` is given only to a factory
    that takes it (``penalty_in = "constructor"``)."""
    sizes = [int(n) for n in sizes]
    if a.call == "sizes_activation":
        return [sizes, activation], f"{name}({tuple(sizes)}, {activation!r})"
    if a.call == "sizes":
        return [sizes], f"{name}({tuple(sizes)})"
    if a.call == "keywords":
        given = {"d": sizes[0], "h": sizes[1], "hidden": sizes[1:-1], "m": sizes[-1], "sizes": sizes,
                 "activation": activation, "reg": float(reg)}
        arguments = {argument: given[quantity] for argument, quantity in a.keywords} | dict(a.constants)
        text = ", ".join(f"{argument}={value!r}" for argument, value in arguments.items())
        return [{KEYWORDS: arguments}], f"{name}({text})"
    return list(sizes), f"{name}({', '.join(map(str, sizes))})"


def builds(a: Assignment, sizes) -> bool:
    """Whether the assignment's factory call can describe a network of these sizes (a keywords
    call given one hidden size "h" builds one hidden layer only)."""
    return not (a.call == "keywords" and "h" in dict(a.keywords).values() and len(sizes) != 3)


def constructor_reg(a: Assignment, case: C.Case) -> float:
    """The ``reg`` the factory is given for a (canonical) case: 0 unless ``penalty_in = "constructor"``."""
    if a.penalty != "l2" or a.penalty_in != "constructor":
        return 0.0
    return reg(case) / a.l2_factor


def student_shape(a: Assignment, name: str, shape) -> tuple:
    """The shape the assignment gives the parameter ``name`` whose homework shape is ``shape``."""
    shape = tuple(shape)
    if name.startswith("W"):
        return shape[::-1] if a.weights == "in_out" else shape
    return {"vector": shape, "column": (shape[0], 1), "row": (1, shape[0])}[a.biases]


def to_student(a: Assignment, params: dict) -> dict:
    """Homework-layout parameters → the assignment's layout (copies)."""
    return {name: np.array(value.T if name.startswith("W") and a.weights == "in_out" else value)
            .reshape(student_shape(a, name, value.shape)) for name, value in params.items()}


def from_student(a: Assignment, name: str, value: np.ndarray, shape) -> np.ndarray:
    """An array of the assignment's layout for ``name`` → the homework's layout of shape ``shape``.

    A weight returned with the transpose of its assignment shape comes back transposed (the
    comparison flags it); any other shape raises ``ValueError``.
    """
    expected = student_shape(a, name, shape)
    if value.shape == expected:
        if name.startswith("W"):
            return value.T.copy() if a.weights == "in_out" else value
        return value.reshape(shape)
    if name.startswith("W") and value.ndim == 2 and value.shape == expected[::-1]:
        return from_student(a, name, value.T, shape).T
    raise ValueError(f"shape {value.shape}, expected {expected}")


def detect_layout(a: Assignment, found: dict, shapes: dict) -> Assignment | None:
    """The layout (weights, biases) under which the factory's ``found`` params have the homework
    ``shapes``; None when no single layout explains them all (or it is the assignment's own)."""
    if set(found) != set(shapes):
        return None
    for weights in ("out_in", "in_out"):
        for biases in ("vector", "column", "row"):
            other = replace(a, weights=weights, biases=biases)
            if other != a and all(found[n].shape == student_shape(other, n, s) for n, s in shapes.items()):
                return other
    return None


def layout_words(a: Assignment, other: Assignment, shapes: dict) -> str:
    """'it stores W1 as (in, out) (4, 5) where the assignment asks (out, in) (5, 4); ...'."""
    parts = []
    first_w = next(n for n in shapes if n.startswith("W"))
    first_b = next(n for n in shapes if n.startswith("b"))
    if other.weights != a.weights:
        names = {"out_in": "(out, in)", "in_out": "(in, out)"}
        parts.append(f"it stores {first_w} as {names[other.weights]} {student_shape(other, first_w, shapes[first_w])} "
                     f"where the assignment asks {names[a.weights]} {student_shape(a, first_w, shapes[first_w])}")
    if other.biases != a.biases:
        parts.append(f"it stores {first_b} as a {other.biases} {student_shape(other, first_b, shapes[first_b])} "
                     f"where the assignment asks a {a.biases} {student_shape(a, first_b, shapes[first_b])}")
    return "; ".join(parts)


def reg(case: C.Case) -> float:
    """The one ``reg`` of an "l2" assignment for this case: the case's λ12 (0 when unregularised)."""
    return float(case.layer_lambdas(1)[1]) if case.regularised else 0.0


def canonical_case(a: Assignment, case: C.Case) -> C.Case:
    """The case restated as the homework's elastic net that the assignment's penalty amounts to."""
    if a.penalty == "elastic_net":
        return case
    value = reg(case) * a.l2_factor if a.penalty == "l2" else 0.0
    lambdas = flat_lambdas([(0.0, value)] * case.n_layers)
    tags = case.tags if any(lambdas) else case.tags - {C.REGULARISED}
    return replace(case, lambdas=lambdas, tags=frozenset(tags))


def call_args(a: Assignment, case: C.Case) -> list:
    """[(name, value)] the method is called with, in order (``case`` canonical: for "l2" its
    λ_l2 is reg·l2_factor, so reg is λ12 / l2_factor)."""
    X = np.array(case.X)
    y = np.array(case.y)
    if a.labels == "one_hot":
        y = np.eye(case.sizes[-1])[y]
    if a.inputs == "columns":
        X, y = np.ascontiguousarray(X.T), (np.ascontiguousarray(y.T) if y.ndim == 2 else y)
    args = [("X", X), ("y", y)]
    if a.penalty == "elastic_net":
        args.append(("lambdas", [float(v) for v in case.lambdas]))
    elif a.penalty == "l2" and a.penalty_in == "method":
        args.append(("reg", reg(case) / a.l2_factor))
    return args


def penalty_parts(case: C.Case) -> tuple[float, dict]:
    """(the penalty's value, its gradient for each weight) for the case's own parameters and λs."""
    value, grads = 0.0, {}
    for layer in range(1, case.n_layers + 1):
        W = case.params[f"W{layer}"]
        l1, l2 = case.layer_lambdas(layer)
        value += l1 * np.abs(W).sum() + l2 * (W ** 2).sum()  # λ1‖W‖₁ + λ2‖W‖₂²
        grads[f"W{layer}"] = l1 * np.sign(W) + 2 * l2 * W  # ∂/∂W = λ1 sign(W) + 2 λ2 W
    return float(value), grads


def read_back(a: Assignment, case: C.Case, loss: float, grads: dict, reduction: str | None = None):
    """The student's (loss, grads) in the homework's layout and reduction (``case`` canonical).

    Raises ``ValueError`` naming the gradient whose shape fits no layout.
    """
    shapes = {name: value.shape for name, value in case.params.items()}
    out = {}
    for name, value in grads.items():
        if name not in shapes:
            raise ValueError(f"grads has an unexpected key {name!r}")
        try:
            out[name] = from_student(a, name, value, shapes[name])
        except ValueError as error:
            raise ValueError(f"grads[{name!r}] has {error}") from None
    if (reduction or a.reduction) == "sum":
        K = case.K
        pen_loss, pen_grads = penalty_parts(case)
        loss = (loss - pen_loss) / K + pen_loss  # only the data term is summed over the batch
        out = {name: (g - pen_grads[name]) / K + pen_grads[name] if name in pen_grads and g.shape == pen_grads[name].shape
               else g / K for name, g in out.items()}
    return loss, out


def input_words(a: Assignment, other: Assignment, case: C.Case) -> str:
    """'it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5); ...'."""
    K, d, m = case.K, case.sizes[0], case.sizes[-1]
    parts = []
    if other.inputs != a.inputs:
        shape = {"rows": f"(K, d) rows {(K, d)}", "columns": f"(d, K) columns {(d, K)}"}
        parts.append(f"it takes X as {shape[other.inputs]} where the assignment gives {shape[a.inputs]}")
    if other.labels != a.labels:
        one_hot = (m, K) if other.inputs == "columns" else (K, m)
        shape = {"int": f"integer labels {(K,)}", "one_hot": f"one-hot labels {one_hot}"}
        parts.append(f"it takes y as {shape[other.labels]} where the assignment gives "
                     f"{shape[a.labels] if a.labels == 'int' else 'one-hot labels'}")
    return "; ".join(parts)
