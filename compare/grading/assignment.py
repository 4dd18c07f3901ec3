"""A course's conventions for its students' networks, read from a TOML file or a named preset.

Correct code written to the course's conventions passes, and the reference is computed under
them (``conventions``): the twins themselves never change. The keys and their defaults, which
are the homework's contract (``--preset homework``)::

    factory = "make_mlp"           # the name each submission defines (validate's MODULE:NAME overrides it)
    factory_aliases = ["factory"]  # also accepted, in order, when the file has no `factory` name
                                   # (a TOML or --factory that sets `factory` alone accepts no other)
    call = "sizes_activation"      # factory(sizes, activation) | "sizes": factory(sizes)
                                   # | "dims": factory(d, h1, ..., m)
    method = "loss_and_grads"      # the method returning (loss, grads)
    weights = "out_in"             # W_l as (out, in) like nn.Linear.weight, or "in_out" (X @ W)
    biases = "vector"              # (h,) | "column": (h, 1) | "row": (1, h)
    inputs = "rows"                # X as (K, d) | "columns": (d, K)
    labels = "int"                 # (K,) ints | "one_hot": (K, m), or (m, K) with inputs = "columns"
    reduction = "mean"             # mean of the per-example losses over the batch | "sum"
    penalty = "elastic_net"        # flat list (λ11, λ12, λ21, λ22, ...) as the third argument
                                   # | "l2": one float reg, loss += reg * l2_factor * Σ_l ‖W_l‖²
                                   # | "none": method(X, y)
    l2_factor = 1.0                # 0.5 for the older CS231n form
    activations = ["relu"]         # must be supported; the others are tried if the factory accepts them
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

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")
CHOICES = {
    "call": ("sizes_activation", "sizes", "dims"),
    "weights": ("out_in", "in_out"),
    "biases": ("vector", "column", "row"),
    "inputs": ("rows", "columns"),
    "labels": ("int", "one_hot"),
    "reduction": ("mean", "sum"),
    "penalty": ("elastic_net", "l2", "none"),
}


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's


class AssignmentError(ValueError):
    """An assignment file or preset that cannot be used; the message names the bad key or value."""


def _is_name(value) -> bool:
    """A Python name, dotted allowed (``Class.create``)."""
    return isinstance(value, str) and all(part.isidentifier() for part in value.split("."))


@dataclass(frozen=True)
class Assignment:
    name: str = "homework"
    factory: str = "make_mlp"
    factory_aliases: tuple = ("factory",)
    call: str = "sizes_activation"
    method: str = "loss_and_grads"
    weights: str = "out_in"
    biases: str = "vector"
    inputs: str = "rows"
    labels: str = "int"
    reduction: str = "mean"
    penalty: str = "elastic_net"
    l2_factor: float = 1.0
    activations: tuple = ("relu",)
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
        if self.call != "sizes_activation":
            return self.activations[:1]
        return self.activations + tuple(a for a in ACTIVATIONS if a not in self.activations)

    def describe(self) -> str:
        """One line: what differs from the homework's contract, or from the preset it extends."""
        base = PRESETS.get(self.extends) or Assignment()
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                   if f.name not in ("name", "extends") and getattr(self, f.name) != getattr(base, f.name)]
        if self.extends:
            return f"{self.name} (the {self.extends} preset" + (f" with {', '.join(changed)})" if changed else ")")
        return f"{self.name}" + (f" ({', '.join(changed)})" if changed else " (the homework's contract)")

    def to_dict(self) -> dict:
        data = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
        data["points"] = dict(self.points)
        return data


PRESETS = {
    "homework": Assignment(),
    # CS231n's two-layer net: TwoLayerNet(input_size, hidden_size, output_size), params W1 (D, H),
    # b1 (H,), W2 (H, C), b2 (C,), loss(X, y, reg) -> (loss, grads), loss = mean NLL + reg·Σ‖W‖².
    "cs231n": Assignment(name="cs231n", factory="TwoLayerNet", factory_aliases=(), call="dims", method="loss",
                         weights="in_out", penalty="l2", l2_factor=1.0),
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


def with_layout(assignment: Assignment, **changes) -> Assignment:
    """The same assignment with some conventions changed (a layout detected in a submission)."""
    return replace(assignment, **changes)
