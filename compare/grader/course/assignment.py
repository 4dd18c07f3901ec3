"""A course's conventions for its students' networks, read from a TOML file or a named preset.

Correct code written to the course's conventions passes, and the reference is computed under
them (``conventions``): the twins themselves never change. The keys and their defaults, which
are the homework's contract (``--preset homework``)::

    factory = "make_mlp"           # the name each submission defines (validate's MODULE:NAME overrides it)
    factory_aliases = ["factory"]  # also accepted, in order, when the file does not define that name
                                   # (a TOML or --factory that sets `factory` alone accepts no other)
    call = "sizes_activation"      # factory(sizes, activation) | "sizes": factory(sizes)
                                   # | "dims": factory(d, h1, ..., m) | "keywords": factory(**keywords)
    keywords = {}                  # with call = "keywords": argument name -> what it is given, one of
                                   # "d", "h" (the one hidden size), "hidden" ([h1, ...]), "m", "sizes",
                                   # "activation", "reg" (e.g. {input_dim = "d", hidden_dim = "h", ...})
    constants = {}                 # with call = "keywords": arguments given as they are ({dtype = "float64"})
    method = "loss_and_grads"      # the method returning (loss, grads)
    weights = "out_in"             # W_l as (out, in) like nn.Linear.weight, or "in_out" (X @ W)
    biases = "vector"              # (h,) | "column": (h, 1) | "row": (1, h)
    inputs = "rows"                # X as (K, d) | "columns": (d, K)
    labels = "int"                 # (K,) ints | "one_hot": (K, m), or (m, K) with inputs = "columns"
    reduction = "mean"             # mean of the per-example losses over the batch | "sum"
    penalty = "elastic_net"        # flat list (λ11, λ12, λ21, λ22, ...) as the third argument
                                   # | "l2": one float reg, loss += reg * l2_factor * Σ_l ‖W_l‖²
                                   # | "none": method(X, y)
    penalty_in = "method"          # where "l2"'s reg is given: method(X, y, reg) | "constructor":
                                   # factory(..., reg=reg) (a keywords call naming "reg"), method(X, y)
    l2_factor = 1.0                # 0.5 for the older CS231n form
    activations = ["relu"]         # must be supported; the others are tried if the factory accepts them
    # Harmless differences the course accepts (a note in the report); any it does not accept fails
    # as a convention, never as a bug:
    gradient_shapes = "exact"      # | "broadcast": a gradient of the same entries in a broadcast-equal
                                   # shape, e.g. (1, H) for an (H,) bias
    log_epsilon = 0.0              # the largest ε accepted inside the log of the loss, −log(p_y + ε)
    relu_grad_at_zero = [0]        # the values of rect'(0) accepted: [0] | [0, 1] (the mask h^a >= 0)
    accept_l2_factors = []         # other factors of the L2 term accepted (e.g. [0.5]), in the loss and
                                   # the gradients alike
    allow_imports = []             # modules a submission may import besides NumPy (e.g. ["scipy"])
    extends = "cs231n"             # start from a preset: then only the keys given change it
    file = "mlp.py"                # backprop-grade: the file graded in each student's folder (a path
                                   # inside it, or a dotted module); default: the file defining the factory
    total = 10                     # optional: the points are rescaled so that a full pass scores 10
    conventions_cost_points = true # false: right backprop in other conventions scores in full
    visibility = "visible"         # Gradescope: "hidden", "after_due_date" or "after_published"
    [points]                       # (last: a TOML table) points per case, by name or glob, the first
    "*/regularised" = 2            # match counting; default 1 a case; only the cases of the required
                                   # activations count

With ``call = "sizes"`` or ``"dims"`` the factory cannot be told an activation: only the first
listed one is checked.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")
CHOICES = {
    "call": ("sizes_activation", "sizes", "dims", "keywords"),
    "weights": ("out_in", "in_out"),
    "biases": ("vector", "column", "row"),
    "inputs": ("rows", "columns"),
    "labels": ("int", "one_hot"),
    "reduction": ("mean", "sum"),
    "penalty": ("elastic_net", "l2", "none"),
    "penalty_in": ("method", "constructor"),
    "gradient_shapes": ("exact", "broadcast"),
}
QUANTITIES = ("d", "h", "hidden", "m", "sizes", "activation", "reg")  # what a keywords call can give


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's


class AssignmentError(ValueError):
    """An assignment file or preset that cannot be used; the message names the bad key or value."""


def _pairs(value, key: str) -> tuple:
    """A TOML table (a dict) or ((name, value), ...) as ((name, value), ...), names checked."""
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = tuple((name, v) for name, v in items)
    except (TypeError, ValueError):
        raise AssignmentError(f"{key} = {value!r} must be a table of argument names") from None
    if not all(isinstance(name, str) and name.isidentifier() for name, _ in pairs):
        raise AssignmentError(f"{key} = {value!r} must be a table of argument names")
    return pairs


def _is_name(value) -> bool:
    """A Python name, dotted allowed (``Class.create``)."""
    return isinstance(value, str) and all(part.isidentifier() for part in value.split("."))


@dataclass(frozen=True)
class Assignment:
    name: str = "homework"
    factory: str = "make_mlp"
    factory_aliases: tuple = ("factory",)
    call: str = "sizes_activation"
    keywords: tuple = ()  # ((argument name, quantity), ...): a TOML table, kept in its order
    constants: tuple = ()  # ((argument name, value), ...)
    method: str = "loss_and_grads"
    weights: str = "out_in"
    biases: str = "vector"
    inputs: str = "rows"
    labels: str = "int"
    reduction: str = "mean"
    penalty: str = "elastic_net"
    penalty_in: str = "method"
    l2_factor: float = 1.0
    activations: tuple = ("relu",)
    gradient_shapes: str = "exact"
    log_epsilon: float = 0.0
    relu_grad_at_zero: tuple = (0,)
    accept_l2_factors: tuple = ()
    allow_imports: tuple = field(default=())
    extends: str | None = None  # the preset this assignment changes (only the keys its file gives)
    file: str | None = None  # in a student's folder, the file graded ("cs231n/classifiers/fc_net.py")
    points: tuple = ()  # ((case-name glob, points), ...): the first glob that matches a case gives its points
    total: float | None = None  # the score a full pass gets (the points are rescaled to it)
    conventions_cost_points: bool = True  # right backprop in other conventions: its failing cases score 0
    visibility: str = "visible"  # Gradescope: who sees each case's result

    def __post_init__(self):
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                raise AssignmentError(f"{key} = {value!r} is not one of {', '.join(map(repr, allowed))}")
        for key in ("factory", "method"):
            value = getattr(self, key)
            if not _is_name(value):
                raise AssignmentError(f"{key} = {value!r} is not a Python name")
        aliases = tuple(self.factory_aliases) if isinstance(self.factory_aliases, list | tuple) else None
        if aliases is None or not all(_is_name(n) for n in aliases):
            raise AssignmentError(f"factory_aliases = {self.factory_aliases!r} must be a list of Python names")
        object.__setattr__(self, "factory_aliases", tuple(n for n in dict.fromkeys(aliases) if n != self.factory))
        factor = self.l2_factor
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < float("inf"):
            raise AssignmentError(f"l2_factor = {factor!r} must be a positive number (1.0, or 0.5 for 0.5·reg·‖W‖²)")
        activations = tuple(self.activations) if isinstance(self.activations, list | tuple) else None
        if not activations or any(a not in ACTIVATIONS for a in activations) or len(set(activations)) != len(activations):
            raise AssignmentError(f"activations = {self.activations!r} must be a non-empty list of distinct names "
                                  f"among {', '.join(ACTIVATIONS)}")
        modules = tuple(self.allow_imports) if isinstance(self.allow_imports, list | tuple) else None
        if modules is None or not all(isinstance(m, str) and m.isidentifier() for m in modules):
            raise AssignmentError(f"allow_imports = {self.allow_imports!r} must be a list of module names")
        self._check_keywords()
        self._check_harmless()
        if self.extends is not None and self.extends not in PRESETS:
            raise AssignmentError(f"extends = {self.extends!r} is not a preset (presets: {', '.join(PRESETS)})")
        if self.file is not None and (not isinstance(self.file, str) or not self.file.strip()
                                      or self.file.startswith(("/", "\\")) or ".." in self.file.split("/")):
            raise AssignmentError(f"file = {self.file!r} must be a path inside a student's folder "
                                  "('mlp.py', 'cs231n/classifiers/fc_net.py') or a dotted module name")
        points = tuple(self.points.items()) if isinstance(self.points, dict) else self.points
        if not isinstance(points, tuple | list) or not all(
                isinstance(p, tuple | list) and len(p) == 2 and isinstance(p[0], str) and p[0].strip()
                and not isinstance(p[1], bool) and isinstance(p[1], int | float) and 0 <= p[1] < float("inf")
                for p in points):
            raise AssignmentError(f"points = {self.points!r} must map case names or globs (\"*/regularised\") to "
                                  "points ≥ 0")
        object.__setattr__(self, "points", tuple((str(g), float(v)) for g, v in points))
        total = self.total
        if total is not None and (isinstance(total, bool) or not isinstance(total, int | float)
                                  or not 0 < total < float("inf")):
            raise AssignmentError(f"total = {total!r} must be a positive number")
        if not isinstance(self.conventions_cost_points, bool):
            raise AssignmentError(f"conventions_cost_points = {self.conventions_cost_points!r} must be true or false")
        if self.visibility not in VISIBILITIES:
            raise AssignmentError(f"visibility = {self.visibility!r} is not one of {', '.join(map(repr, VISIBILITIES))}")
        object.__setattr__(self, "activations", activations)
        object.__setattr__(self, "allow_imports", modules)
        object.__setattr__(self, "l2_factor", float(factor))

    def _check_keywords(self) -> None:
        keywords = _pairs(self.keywords, "keywords")
        constants = _pairs(self.constants, "constants")
        for name, quantity in keywords:
            if quantity not in QUANTITIES:
                raise AssignmentError(f"keywords: {name} = {quantity!r} is not one of {', '.join(map(repr, QUANTITIES))}")
        for name, value in constants:
            if isinstance(value, dict | list) or value is None:
                raise AssignmentError(f"constants: {name} = {value!r} must be a number, a string or a boolean")
        if (self.call == "keywords") != bool(keywords):
            raise AssignmentError("call = 'keywords' needs a keywords table (and a keywords table needs it): "
                                  f"call = {self.call!r}, keywords = {dict(keywords)!r}")
        if constants and self.call != "keywords":
            raise AssignmentError(f"constants = {dict(constants)!r} needs call = 'keywords'")
        gives_reg = "reg" in (q for _, q in keywords)
        if self.penalty_in == "constructor" and (self.penalty != "l2" or not gives_reg):
            raise AssignmentError("penalty_in = 'constructor' needs penalty = 'l2' and a keywords argument given "
                                  "\"reg\" (e.g. keywords = {..., reg = \"reg\"})")
        if gives_reg and self.penalty_in != "constructor":
            raise AssignmentError("keywords give \"reg\" to the constructor: set penalty_in = 'constructor'")
        object.__setattr__(self, "keywords", keywords)
        object.__setattr__(self, "constants", constants)

    def _check_harmless(self) -> None:
        eps = self.log_epsilon
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 <= eps <= 0.01:
            raise AssignmentError(f"log_epsilon = {eps!r} must be a number from 0 (no ε) to 0.01")
        at_zero = tuple(self.relu_grad_at_zero) if isinstance(self.relu_grad_at_zero, list | tuple) else None
        if at_zero is None or 0 not in at_zero or not set(at_zero) <= {0, 1} or any(isinstance(v, bool) for v in at_zero):
            raise AssignmentError(f"relu_grad_at_zero = {self.relu_grad_at_zero!r} must be [0] or [0, 1]")
        factors = tuple(self.accept_l2_factors) if isinstance(self.accept_l2_factors, list | tuple) else None
        if factors is None or not all(isinstance(f, int | float) and not isinstance(f, bool) and 0 < f < 100
                                      for f in factors):
            raise AssignmentError(f"accept_l2_factors = {self.accept_l2_factors!r} must be a list of positive "
                                  "numbers (e.g. [0.5])")
        object.__setattr__(self, "log_epsilon", float(eps))
        object.__setattr__(self, "relu_grad_at_zero", tuple(sorted(int(v) for v in set(at_zero))))
        object.__setattr__(self, "accept_l2_factors", tuple(float(f) for f in factors if f != self.l2_factor))

    @property
    def factory_names(self) -> tuple:
        """The names a submission's factory may have, in the order they are looked for."""
        return (self.factory, *self.factory_aliases)

    def with_factory(self, name: str) -> Assignment:
        """The same assignment whose factory is ``name`` and nothing else (``--factory NAME``)."""
        return replace(self, factory=name, factory_aliases=())

    @property
    def tried_activations(self) -> tuple:
        """The activations to check, in order: the listed ones first (required), then, when the
        factory is told its activation, the others (checked if it accepts them)."""
        told = self.call == "sizes_activation" or (self.call == "keywords" and "activation" in dict(self.keywords).values())
        if not told:
            return self.activations[:1]
        return self.activations + tuple(a for a in ACTIVATIONS if a not in self.activations)

    def describe(self) -> str:
        """One line: the preset it is (or extends), and what differs from it (else from the homework's)."""
        preset_name = self.extends or (self.name if self.name in PRESETS else None)
        base = PRESETS[preset_name] if preset_name else Assignment()
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                   if f.name not in ("name", "extends") and getattr(self, f.name) != getattr(base, f.name)
                   and not (f.name == "factory_aliases" and not self.factory_aliases and self.factory != base.factory)]
        if preset_name == "homework" and not changed:
            return f"{self.name} (the homework's contract)"
        if preset_name:
            return f"{self.name} (the {preset_name} preset" + (f" with {', '.join(changed)})" if changed else ")")
        return f"{self.name} ({', '.join(changed)})"

    def to_dict(self) -> dict:
        """The assignment as its TOML file's keys (tables as dicts, lists as lists)."""
        out = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
        return {**out, "keywords": dict(self.keywords), "constants": dict(self.constants), "points": dict(self.points)}


# What CS231n's notebooks cannot tell from the reference, its presets accept: a (1, H) bias gradient
# (compared by broadcasting), rect'(0) = 1 (numerical gradients at random points never meet 0) and
# a small ε inside the log (a loss difference of ~1e-7 reads as "very small").
_CS231N_ACCEPTS = {"gradient_shapes": "broadcast", "relu_grad_at_zero": (0, 1), "log_epsilon": 1e-7}
_CS231N_A1 = Assignment(name="cs231n", factory="TwoLayerNet", factory_aliases=(), call="dims", method="loss",
                        weights="in_out", penalty="l2", l2_factor=1.0, **_CS231N_ACCEPTS)
PRESETS = {
    "homework": Assignment(),
    # CS231n assignment 1's two-layer net: TwoLayerNet(input_size, hidden_size, output_size), params
    # W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), loss(X, y, reg) -> (loss, grads), loss = mean NLL + reg·Σ‖W‖².
    "cs231n": _CS231N_A1,
    # Its 2016 starter: the same with 0.5·reg·Σ‖W‖².
    "cs231n-2016": replace(_CS231N_A1, name="cs231n-2016", l2_factor=0.5),
    # CS231n assignment 2 (cs231n/classifiers/fc_net.py): TwoLayerNet(input_dim, hidden_dim, num_classes,
    # weight_scale, reg), reg given to the constructor, loss(X, y) -> (loss, grads), 0.5·reg·Σ‖W‖²; relu.
    "cs231n-a2": Assignment(name="cs231n-a2", factory="TwoLayerNet", factory_aliases=(), call="keywords",
                            keywords=(("input_dim", "d"), ("hidden_dim", "h"), ("num_classes", "m"), ("reg", "reg")),
                            method="loss", weights="in_out", penalty="l2", penalty_in="constructor", l2_factor=0.5,
                            **_CS231N_ACCEPTS),
    # ... and its FullyConnectedNet(hidden_dims, input_dim, num_classes, ..., reg, dtype), any depth,
    # params W1..WL, b1..bL; asked for float64 (its default dtype is float32).
    "cs231n-a2-fc": Assignment(name="cs231n-a2-fc", factory="FullyConnectedNet", factory_aliases=(),
                               call="keywords", keywords=(("hidden_dims", "hidden"), ("input_dim", "d"),
                                                          ("num_classes", "m"), ("reg", "reg")),
                               constants=(("dtype", "float64"),), method="loss", weights="in_out", penalty="l2",
                               penalty_in="constructor", l2_factor=0.5, **_CS231N_ACCEPTS),
}


def preset(name: str) -> Assignment:
    if name not in PRESETS:
        raise AssignmentError(f"no preset named {name!r} (presets: {', '.join(PRESETS)})")
    return PRESETS[name]


def load_assignment(path, base: Assignment | None = None) -> Assignment:
    """Read an assignment TOML file; unknown keys and bad values raise ``AssignmentError``.

    Its keys override those of ``base`` (validate's ``--preset``), or of the preset it names
    with ``extends = "cs231n"``, or else the homework's: only the keys it gives change.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AssignmentError(f"cannot read assignment file {path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AssignmentError(f"{path} is not valid TOML: {error}") from None
    known = {f.name for f in fields(Assignment)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise AssignmentError(f"{path}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(known - {'name'}))})")
    if "extends" in data:
        parent = data["extends"]
        if not isinstance(parent, str) or parent not in PRESETS:
            raise AssignmentError(f"{path}: extends = {parent!r} is not a preset (presets: {', '.join(PRESETS)})")
        if base is not None and base.name != parent:
            raise AssignmentError(f"{path} extends {parent!r}, but the preset {base.name!r} was also given")
        base = PRESETS[parent]
    elif base is not None:
        data["extends"] = base.name
    data.setdefault("name", path.stem)
    if "factory" in data and "factory_aliases" not in data:
        data["factory_aliases"] = []  # the course names its factory: no other name is accepted
    try:
        return replace(base or Assignment(), **data)
    except AssignmentError as error:
        raise AssignmentError(f"{path}: {error}") from None


def load_assignment_dict(data: dict) -> Assignment:
    """The assignment that ``Assignment.to_dict()`` wrote (a summary.json, an autograder bundle)."""
    known = {f.name for f in fields(Assignment)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise AssignmentError(f"unknown key {unknown[0]!r} in a saved assignment")
    return Assignment(**data)


def as_assignment(value) -> Assignment:
    """The assignment ``value`` names: an ``Assignment``, a preset's name ("cs231n"), or the path of a
    TOML file ("course.toml", a ``Path``); None is the homework's. Raises ``AssignmentError`` (a
    ValueError) for an unknown preset or a bad file, ``TypeError`` for anything else."""
    if value is None:
        return PRESETS["homework"]
    if isinstance(value, Assignment):
        return value
    if isinstance(value, os.PathLike) or (isinstance(value, str) and value.endswith(".toml")):
        return load_assignment(value)
    if isinstance(value, str):
        if value not in PRESETS:
            raise AssignmentError(f"no preset named {value!r} (presets: {', '.join(PRESETS)}; a course's own "
                                  "conventions: the path of its .toml file)")
        return PRESETS[value]
    raise TypeError(f"assignment must be an Assignment, a preset's name or a .toml file's path, "
                    f"got {type(value).__name__}")


def with_layout(assignment: Assignment, **changes) -> Assignment:
    """The same assignment with some conventions changed (a layout detected in a submission)."""
    return replace(assignment, **changes)
