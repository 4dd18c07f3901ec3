"""What a course calls the things a diagnosis names, and the one renderer that uses it.

A ``Finding`` (``compare.grader.diagnosis.findings``) is data: a stable key, a phrase with named slots, the
numbers behind it (one record per place it holds). ``render`` fills the slots from the
numbers and from a ``CourseWords``, so that one finding reads in every course's notation:

- ``{K}``, ``{rel}``, ``{labels}``, ``{what}``, ``{times}``: from the finding's numbers (each
  case's own K, the relative error, the label shift, the constant factor);
- ``{hw:2.18}``: " (homework 2.18)" under the homework, nothing elsewhere (``{hw:,1.8}``:
  ", homework 1.8", inside parentheses);
- ``{lam:l1}``, ``{lam:12}``, ``{lam:12x2}``: a penalty coefficient (layer ``l`` or a number,
  then 1 for L1 or 2 for L2, then an optional multiple): "λ_l1", "λ12", "2·λ12" under the
  homework; under one ``reg`` with ``l2_factor`` f, the L2 coefficient m·λ is (m·f)·reg;
- ``{pen_grad}``, ``{pen_loss}``, ``{bias_pen_grad}``, ``{penalty}``, ``{lam_on}``,
  ``{reduce}``: the penalty's gradient, its loss term, its name, "λ ≠ 0", "mean" or "sum";
- ``{ha}``, ``{hs}``, ``{oa}``, ``{os}``, ``{rect}``: the homework's symbols h^a, h^s, o^a, o^s and
  rect; ``hidden_pre``, ``hidden``, ``scores``, ``probs`` and ``ReLU`` in any other course;
  ``{last_affine}``, ``{back_W2}``, ``{grad_W_out}``: formulas written in the course's weight layout.

A phrase that depends on the assignment's reduction is a dict {"mean": ..., "sum": ...}.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CourseWords:
    """The conventions a course's students read their diagnosis in."""

    penalty: str = "elastic_net"  # "elastic_net" (λ per layer), "l2" (one reg) or "none"
    l2_factor: float = 1.0  # "l2": the loss term is l2_factor·reg·Σ‖W‖²
    reduction: str = "mean"  # the data term over the batch: "mean" or "sum"
    homework: bool = True  # cite the homework's equations
    weights: str = "out_in"  # W as (out, in) or (in, out)

    @classmethod
    def of(cls, assignment) -> CourseWords:
        """The words of a ``grading.assignment.Assignment``."""
        own = assignment.extends or assignment.name
        return cls(assignment.penalty, float(assignment.l2_factor), assignment.reduction, own == "homework",
                   assignment.weights)

    @property
    def one_reg(self) -> bool:
        return self.penalty != "elastic_net"

    @property
    def symbols(self) -> dict:
        """The slots {ha} {hs} {oa} {os} {rect}: the homework's h^a (a pre-activation), h^s (an
        activation), o^a (the logits), o^s (the softmax) and rect; elsewhere, plain names (CS231n's
        ``scores`` and ``probs``)."""
        names = HOMEWORK_SYMBOLS if self.homework else PLAIN_SYMBOLS
        hs, oa = names["hs"], names["oa"]
        if self.weights == "in_out":  # a row of examples times W (in, out)
            formulas = {"last_affine": f"{hs}·W_L + b_L", "back_W2": f"∂L/∂{hs} = ∂L/∂{oa}·W2ᵀ",
                        "grad_W_out": f"{hs}ᵀ · ∂L/∂{oa}"}
        else:
            formulas = {"last_affine": f"W_L {hs} + b_L", "back_W2": f"∂L/∂{hs} = W2ᵀ ∂L/∂{oa}",
                        "grad_W_out": f"∂L/∂{oa} · {hs}ᵀ"}
        return {**names, **formulas}

    def coefficient(self, layer: str, term: str, multiple: float = 1.0) -> str:
        """multiple·λ_{layer term} in this course's words ("2·λ12", "2λ_l2", "reg", "0.5·reg")."""
        if self.one_reg:
            if term == "1":
                return "0"
            value = multiple * self.l2_factor
            return "reg" if value == 1 else f"{value:g}·reg"
        name = f"λ_{layer}{term}" if layer == "l" else f"λ{layer}{term}"
        if multiple == 1:
            return name
        return f"{multiple:g}{name}" if layer == "l" else f"{multiple:g}·{name}"

    @property
    def pen_grad(self) -> str:
        if self.one_reg:
            return f"{self.coefficient('l', '2', 2)}·W"
        return "λ_l1·sign(W) + 2λ_l2·W"

    @property
    def pen_loss(self) -> str:
        if self.one_reg:
            return f"{self.coefficient('l', '2')}·Σ_l ‖W_l‖²"
        return "Σ_l λ_l1‖W_l‖₁ + λ_l2‖W_l‖₂²"

    @property
    def bias_pen_grad(self) -> str:
        return f"{self.coefficient('l', '2', 2)}·b" if self.one_reg else "λ·sign(b) / 2λ·b"

    @property
    def penalty_name(self) -> str:
        return "L2 penalty" if self.one_reg else "elastic-net penalty"

    @property
    def lam_on(self) -> str:
        return "reg ≠ 0" if self.one_reg else "λ ≠ 0"


HOMEWORK = CourseWords()
HOMEWORK_SYMBOLS = {"ha": "h^a", "hs": "h^s", "oa": "o^a", "os": "o^s", "rect": "rect"}
PLAIN_SYMBOLS = {"ha": "hidden_pre", "hs": "hidden", "oa": "scores", "os": "probs", "rect": "ReLU"}


class _Cite:
    def __init__(self, words: CourseWords):
        self.words = words

    def __format__(self, equation: str) -> str:
        """"1.8" -> " (homework 1.8)"; ",1.8" (inside parentheses) -> ", homework 1.8"."""
        if not self.words.homework:
            return ""
        return f", homework {equation[1:]}" if equation.startswith(",") else f" (homework {equation})"


class _Coefficient:
    def __init__(self, words: CourseWords):
        self.words = words

    def __format__(self, spec: str) -> str:
        place, _, multiple = spec.partition("x")
        return self.words.coefficient(place[:-1], place[-1], float(multiple or 1))


def _short(case_name: str) -> str:
    return case_name.partition("/")[2] or case_name


def by_value(records, value, text) -> str:
    """ "10 (minibatch), 8 (regularised)": each distinct value with the cases that have it."""
    groups: dict = {}
    for record in records:
        names = groups.setdefault(text(value(record)), [])
        if _short(record["case"]) not in names:
            names.append(_short(record["case"]))
    return ", ".join(f"{v} ({', '.join(names)})" for v, names in groups.items())


def sci(x: float) -> str:
    """3e-09 -> "3e-9": one digit, as a student reads it (inf and nan as themselves)."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(float(x))
    mantissa, _, exponent = f"{x:.0e}".partition("e")
    return f"{mantissa}e{int(exponent)}"


def factor_name(c: float, K: int, m: int, reduction: str = "mean") -> str:
    """" (= K, the batch size: ...)" when the factor ``c`` is a telling number, else ""."""
    def close(value):
        return abs(c - value) <= 1e-6 * max(abs(value), 1e-12)

    times_K, over_K = (("K, the batch size: a sum instead of a mean?", "1/K: divided by K twice?") if reduction == "mean"
                       else ("K, the batch size: counted K times?", "1/K: divided by K where the assignment sums?"))
    for value, name in ((K, times_K), (1 / K, over_K),
                        (m, "m, the number of classes"), (1 / m, "1/m, one over the number of classes"),
                        (2.0, "2"), (0.5, "1/2"), (-1.0, "-1: the wrong sign")):
        if close(value):
            return f" (= {name})"
    return ""


def label_words(shifts, symbols: dict = HOMEWORK_SYMBOLS) -> str:
    """What the labels y + shift (one of ``shifts``, which the cases cannot tell apart) say."""
    named = " or ".join(f"y {'+' if t > 0 else '-'} {abs(t)}" for t in shifts)
    if all(abs(t) == 1 for t in shifts):
        amount = "off by one"
    elif all(abs(t) == 2 for t in shifts):
        amount = "off by two"
    else:
        amount = "shifted"
    same = " (the same labels with this few classes)" if len(shifts) > 1 else ""
    return (f"onehot/labels {amount}: your numbers match the labels {named} (mod m){same} instead of y; "
            f"∂L/∂{symbols['oa']} = {symbols['os']} - onehot(y) with each example's own label")


class _Slots(dict):
    """The values of a phrase's slots: the course's words, and the finding's numbers."""

    def __init__(self, records: list, words: CourseWords):
        super().__init__(hw=_Cite(words), lam=_Coefficient(words), pen_grad=words.pen_grad, pen_loss=words.pen_loss,
                         bias_pen_grad=words.bias_pen_grad, penalty=words.penalty_name, lam_on=words.lam_on,
                         reduce=words.reduction, **words.symbols)
        self.records = records
        self.words = words

    def factor_name(self, record) -> str:
        return factor_name(record["factor"], record["K"], record["m"], self.words.reduction)

    def __missing__(self, slot: str) -> str:
        records = self.records
        if slot == "K":
            if len({r["case"] for r in records}) < 2:
                return f"K = {records[0]['K']}"
            return "K = " + by_value(records, lambda r: r["K"], str)
        if slot == "rel":
            low, high = min(r["rel"] for r in records), max(r["rel"] for r in records)
            return sci(high) if sci(low) == sci(high) else f"{sci(low)} to {sci(high)}"
        if slot == "labels":
            common = [t for t in records[0]["shifts"] if all(t in r["shifts"] for r in records)]
            return label_words(common or records[0]["shifts"], self.words.symbols)
        if slot == "what":
            whats = {r["what"] for r in records}
            return whats.pop() if len(whats) == 1 else "gradient"
        if slot == "times":
            if len({f"{r['factor']:.6g}" for r in records}) == 1:
                r = records[0]
                return f"is exactly {r['factor']:.6g} times the right one{self.factor_name(r)}"
            names = {self.factor_name(r) for r in records}
            return (f"is a constant multiple of the right one, its own in each case{names.pop() if len(names) == 1 else ''}: "
                    + by_value(records, lambda r: r["factor"], lambda c: f"{c:.6g}"))
        if slot == "cases":
            return ", ".join(dict.fromkeys(r["case"] for r in records))
        raise KeyError(f"a diagnosis phrase has the unknown slot {{{slot}}}")


def render(phrase, records: list, words: CourseWords = HOMEWORK) -> str:
    """The phrase in the course's words, its slots filled. A phrase is a str, or a dict by the
    course's reduction ({"mean": ..., "sum": ...}), weight layout ({"out_in": ..., "in_out": ...})
    or penalty ({"elastic_net": ..., "l2": ...}; the first entry for any other)."""
    if isinstance(phrase, dict):
        phrase = (phrase.get(words.reduction) or phrase.get(words.weights) or phrase.get(words.penalty)
                  or next(iter(phrase.values())))
    return phrase.format_map(_Slots(records, words))
