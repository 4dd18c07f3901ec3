"""The parameter detectors: each asks one question of one failing gradient of one case.

A parameter detector looks at the student's gradient ``s`` beside autograd's ``r``
(``ParamView``) and returns a ``Finding`` when ``s`` is exactly what a known bug produces: ``-r``;
``K·data + penalty``; the right backprop plus ``c·sign(W) + c'·W`` for some wrong ``c, c'``; a
scalar added to every entry; or a known bug's gradient (``diagnosis.hypotheses``). They run in
order of specificity (``PARAM_DETECTORS``) and the first one that matches wins; its position is
the finding's rank (the loss has its own detector, ``diagnosis.loss``). Every alternative
gradient comes from autograd on an altered network or loss; the only arrays built here are the
bases ``sign(W)`` and ``W`` of a penalty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from compare.grader.course import cases as C
from compare.grader.course.words import HOMEWORK, CourseWords, factor_name, render
from compare.grader.diagnosis.evidence import TOL, Evidence, close, matches
from compare.grader.diagnosis.findings import Finding, with_K
from compare.grader.diagnosis.hypotheses import HYPOTHESES


@dataclass
class ParamView:
    """One failing gradient: the student's ``s`` (in the reference layout) beside autograd's ``r``."""

    case: C.Case
    name: str
    s: np.ndarray
    r: np.ndarray
    ev: Evidence
    previous: np.ndarray | None = None  # the student's answer for this name on the previous call
    loss_passed: bool = True
    max_rel_error: float = np.inf

    @property
    def layer(self) -> int:
        return int(self.name[1:])

    @property
    def is_weight(self) -> bool:
        return self.name.startswith("W")

    @property
    def data(self) -> np.ndarray:
        return self.ev.data[1][self.name]

    @property
    def pen(self) -> np.ndarray:
        return self.ev.penalty_grads[self.name]

    def layer_lambdas(self) -> tuple:
        return self.case.layer_lambdas(self.layer)


# ----------------------------------------------------------------------------- parameter detectors
def detect_nonfinite(p: ParamView):
    if np.all(np.isfinite(p.s)):
        return None
    if p.case.stress:
        return Finding("softmax-overflow",
                       "softmax overflow at large logits (|{oa}| ≈ 1000): exp({oa}) overflows to inf (or underflows "
                       "to 0) and inf/inf or 0/0 gives NaN; subtract max({oa}) from each row before exp "
                       "(softmax(o) = softmax(o - max o), log-sum-exp)")
    return Finding("nonfinite", "the gradient holds NaN or inf on an ordinary batch")


def transposed_message(name: str, shape=None, words: CourseWords = HOMEWORK) -> str:
    return render(transposed_phrase(name, shape), [], words)


def transposed_phrase(name: str, shape=None) -> dict:
    """The phrase, in the course's weight layout ({"out_in": ..., "in_out": ...})."""
    layer = name[1:]
    below = "x" if layer == "1" else f"{{hs}}{int(layer) - 1}"
    inputs = "X" if layer == "1" else "H^s"
    what = f"grads[{name!r}] has the transposed shape {shape}" if shape else f"your ∂L/∂{name} is the transpose of the right one"
    return {"out_in": f"transposed weight gradient: {what}; W is (out, in) like nn.Linear.weight, so "
                      f"∂L/∂{name} = δ {below}ᵀ (batched: δᵀ·{inputs}), not {below} δᵀ",
            "in_out": f"transposed weight gradient: {what}; {name} is (in, out) like its params entry, so "
                      f"d{name} = {inputs}ᵀ·δ (the layer's input transposed times the upstream gradient), not δᵀ·{inputs}"}


def detect_transposed(p: ParamView):
    if p.is_weight and p.s.shape == p.r.T.shape and matches(p.s.T, p.r):
        return Finding("transposed", transposed_phrase(p.name))
    return None


def detect_sign(p: ParamView):
    if matches(p.s, -p.r):
        return Finding("sign-flipped",
                       "gradient has the wrong sign (= -reference): ∂L/∂{oa} = {os} - onehot(y), not onehot(y) - {os} "
                       "(or the descent step's minus sign moved into the gradient)")
    return None


def detect_scaled(p: ParamView):
    """s = a·(backprop part) + b·(penalty part) for a few telling (a, b).

    A candidate equal to the right answer (K = 1, or no penalty and b ≠ 1) never matches a
    failing gradient, so none is left out for that; -r itself is ``detect_sign``'s.
    """
    K = p.case.K
    has_pen = bool(np.any(p.pen))
    candidates = [
        ((K, 1), "sum-not-mean", {"mean": "gradient off by a factor K ({K}): the batch gradient is the sum over the "
                                          "examples instead of the mean (divide by K)",
                                  "sum": "gradient off by a factor K ({K}): the sum over the batch is multiplied by K "
                                         "(the examples counted K times)"}),
        ((K, K), "sum-not-mean", {"mean": "gradient off by a factor K ({K}): sum over the batch instead of the mean "
                                          "(penalty included, K times)",
                                  "sum": "gradient off by a factor K ({K}): the whole gradient, penalty included, "
                                         "is multiplied by K"}),
        ((1 / K, 1), "mean-twice", {"mean": "gradient off by a factor 1/K ({K}): divided by K twice (a mean of a mean)",
                                    "sum": "gradient off by a factor 1/K ({K}): divided by K, but the assignment's "
                                           "loss is the sum over the batch (reduction = \"sum\"), not an average"}),
        ((1 / K, 1 / K), "mean-twice", {"mean": "gradient off by a factor 1/K ({K}): divided by K twice",
                                        "sum": "gradient off by a factor 1/K ({K}), penalty included: divided by K, "
                                               "but the assignment's loss is the sum over the batch (reduction = \"sum\")"}),
        ((1, 1 / K), "penalty-over-K", "penalty gradient divided by K: the {penalty}'s term is not averaged over "
                                       "the batch; add {pen_grad} once, after the {reduce} over the batch"),
        ((1, K), "penalty-times-K", "penalty gradient added once per example (K times, {K}); add it once"),
        ((1, 0), "penalty-missing-grad", "penalty missing from the gradient: no {pen_grad} term"
                                         + (" (your loss includes it): add it to the gradient you return, not only "
                                            "in the update step" if p.loss_passed else "")),
        ((0, 1), "data-missing", "only the penalty is in this gradient: the backprop part is missing"),
        ((1, 2), "penalty-twice", "penalty gradient added twice"),
        ((1, -1), "penalty-sign", "penalty gradient subtracted instead of added (wrong sign)"),
        ((-1, 1), "sign-flipped", "backprop part of the gradient has the wrong sign: ∂L/∂{oa} = {os} - onehot(y), "
                                  "not onehot(y) - {os} (the penalty part is right)"),
    ]
    for (a, b), key, message in candidates:
        if a == 0 and not has_pen:
            continue  # no penalty: an all-zero gradient, its own finding
        if matches(p.s, a * p.data + b * p.pen):
            return with_K(key, message, p.case, factor=a)
    return None


def _constant_factor(p: ParamView, c: float, what: str) -> Finding:
    """"the {what} is exactly c times the right one", told with each case's own factor when grouped."""
    return Finding("constant-factor", "the {what} {times}",
                   numbers=[{"case": p.case.name, "K": p.case.K, "m": p.case.sizes[-1], "factor": c, "what": what}])


def detect_constant_factor(p: ParamView):
    """s = c·r, or s = c·(backprop part) + penalty, for some constant c."""
    for base, rest, what in ((p.r, 0.0, "gradient"), (p.data, p.pen, "backprop part of the gradient")):
        target = p.s - rest
        norm = float(np.vdot(base, base))
        if norm == 0:
            continue
        c = float(np.vdot(base, target)) / norm
        if abs(c - 1) > 1e-4 and c != 0 and matches(target, c * base):  # c ≈ 1 is rounding, not a factor
            return _constant_factor(p, c, what)
    return None


def _lambda_phrase(value, own_name, own_value, case, term, K):
    """Name the coefficient ``value`` that should be ``own_value`` (λ or 2λ): (key, phrase) or None.

    ``own_name`` is the coefficient's slot place ("12": layer 1's L2), rendered in the course's words.
    """
    scale = max(abs(own_value), max(case.lambdas))
    if close(value, own_value, scale):  # a λ of 0 is matched by a coefficient at rounding level, too
        return None
    right = f"{{lam:{own_name}}}·sign(W)" if term == "L1" else f"{{lam:{own_name}x2}}·W"
    checks = [
        (0.0, f"{term.lower()}-missing", f"the {term} term ({right}) is missing from the gradient"),
        (-own_value, f"{term.lower()}-sign", f"the {term} term has the wrong sign (-{right})"),
        (own_value / K, "penalty-over-K", f"the {term} term is divided by K ({right}/K)"),
        (own_value * K, "penalty-times-K", f"the {term} term is multiplied by K (added once per example)"),
    ]
    if term == "L1":
        checks.append((2 * own_value, "l1-factor-2", f"the L1 term is doubled: {{lam:{own_name}x2}}·sign(W) instead of {right}"))
    else:
        checks.append((own_value / 2, "l2-factor-2", f"the L2 term is off by a factor 2: {{lam:{own_name}}}·W instead of "
                                                     f"{right} (∇‖W‖₂² = 2W{{hw:,1.8}})"))
        checks.append((own_value * 2, "l2-factor-2", f"the L2 term is off by a factor 2: {{lam:{own_name}x4}}·W instead of "
                                                     f"{right} (∇‖W‖₂² = 2W)"))
    for name, lam in zip(case.lambda_names(), case.lambdas):
        if name[1:] != own_name:
            for factor in ((1.0, 2.0) if term == "L2" else (1.0,)):
                checks.append((factor * lam, "lambda-slot", f"the {term} term uses {{lam:{name[1:]}}} = {lam:g} where it "
                                                            f"should use {{lam:{own_name}}} (lambdas are L1, L2 for each "
                                                            "layer in order)"))
    for target, key, phrase in checks:
        if close(value, target, scale):
            return key, phrase
    return f"{term.lower()}-wrong", f"the {term} coefficient is {value:.6g} instead of {own_value:g}"


def detect_scalar_added(p: ParamView):
    """s = (backprop part, or the whole right gradient) + one number c in every entry.

    The telling c is the penalty's value: ``dW += reg·np.sum(W*W)`` where its gradient was meant.
    """
    if p.s.size < 2 or p.s.shape != p.r.shape:
        return None
    W = np.asarray(p.case.params[f"W{p.layer}"])
    lam1, lam2 = p.layer_lambdas()
    layer_value = lam1 * float(np.abs(W).sum()) + lam2 * float((W * W).sum())
    total_value = p.ev.reference_loss - p.ev.data[0]
    for base, rest in ((p.data, "instead of"), (p.r, "on top of")):
        c = float(np.mean(p.s - base))
        if c == 0 or not matches(p.s, base + c):
            continue
        numbers = [{"case": p.case.name, "K": p.case.K, "scalar": c}]
        for value in (layer_value, total_value):
            if value and any(close(c, f * value) for f in (1.0, 2.0, 0.5)):
                return Finding("scalar-added", f"a number, the penalty's value ({c:.6g}), is added to every entry of "
                                               f"∂L/∂{p.name} {rest} the penalty's gradient {{pen_grad}}: the gradient "
                                               "of a sum of squares is an array (∇‖W‖² = 2W), not the sum itself",
                               numbers=numbers)
        return Finding("scalar-added", f"a number ({c:.6g}) is added to every entry of ∂L/∂{p.name}: a scalar where "
                                       "an array of the parameter's shape was meant", numbers=numbers)
    return None


def detect_penalty_terms(p: ParamView):
    """s = c0·(backprop part) + c1·sign(W) + c2·W exactly: read off c1 (should be λ_l1) and c2 (2λ_l2)."""
    if not p.is_weight or not p.case.regularised or not np.any(p.s):
        return None  # (all zeros is its own finding)
    W = np.asarray(p.case.params[p.name])
    basis = np.column_stack([p.data.ravel(), np.sign(W).ravel(), W.ravel()])
    if basis.shape[0] < basis.shape[1] + 2 or np.linalg.matrix_rank(basis) < basis.shape[1]:
        return None
    coef = np.linalg.lstsq(basis, p.s.ravel(), rcond=None)[0]
    if not matches(p.s, (basis @ coef).reshape(p.s.shape)):
        return None  # not "backprop part + a penalty made of sign(W) and W"
    c0, c1, c2 = (float(c) for c in coef)
    lam1, lam2 = p.layer_lambdas()
    layer = p.layer
    phrases = []
    if not close(c0, 1.0):
        phrases.append(("constant-factor", f"the backprop part of the gradient is exactly {c0:.6g} times the right "
                                           f"one{factor_name(c0, p.case.K, p.case.sizes[-1])}"))
    if lam1 and close(c1, 0.0, lam1) and close(c2, 2 * lam2 + lam1):
        phrases.append(("l1-uses-W", f"the L1 gradient is {{lam:{layer}1}}·W instead of {{lam:{layer}1}}·sign(W) "
                                     "(abs'(x) = sign(x))"))
    else:
        for phrase in (_lambda_phrase(c1, f"{layer}1", lam1, p.case, "L1", p.case.K),
                       _lambda_phrase(c2, f"{layer}2", 2 * lam2, p.case, "L2", p.case.K)):
            if phrase:
                phrases.append(phrase)
    if not phrases:
        return None
    keys = sorted({key for key, _ in phrases})
    if keys == ["constant-factor"]:  # told with each case's own factor when grouped
        return _constant_factor(p, c0, "backprop part of the gradient")
    return Finding("+".join(keys), "; ".join(text for _, text in phrases))


def detect_bias_regularised(p: ParamView):
    if p.is_weight or not p.case.regularised:
        return None
    b = np.asarray(p.case.params[p.name])
    lam1, lam2 = p.layer_lambdas()
    for c1, c2 in ((lam1, 2 * lam2), (0, 2 * lam2), (lam1, 0), (lam1, lam2), (0, lam2)):
        if matches(p.s, p.r + c1 * np.sign(b) + c2 * b):
            return Finding("biases-regularised",
                           "biases are regularised: the penalty covers the weights W only, biases are free "
                           "{hw:2.18} — drop the {bias_pen_grad} term from ∂/∂b")
    return None


def detect_accumulated(p: ParamView):
    if p.previous is None or p.previous.shape != p.r.shape:
        return None
    if matches(p.s, p.r + p.previous):
        return Finding("accumulates-across-calls",
                       "gradients accumulate across calls: this call's gradient is added to the previous call's "
                       "(reset the gradient buffers to zero at the start of loss_and_grads)")
    if np.any(p.previous) and matches(p.s, p.previous):
        return Finding("stale-gradients", "loss_and_grads returns the gradients of the previous call (a stale cache)")
    return None


def detect_hypotheses(p: ParamView):
    """The first known bug whose gradient this is (a bug that predicts all zeros here tells nothing)."""
    for hyp in HYPOTHESES:
        result = p.ev.hypothesis(hyp)
        if result is not None and np.any(result[1][p.name]) and matches(p.s, result[1][p.name]):
            return hyp.finding(p.case)
    return None


def detect_all_zero(p: ParamView):
    if not np.any(p.s):
        return Finding("all-zero", "the gradient is all zeros: it is never computed (or never accumulated)")
    return None


def detect_preactivation_input(p: ParamView):
    """∂L/∂W_l built with the pre-activation h^a of the layer below instead of h^s."""
    if not p.is_weight or p.layer < 2:
        return None
    tape = p.ev.tape
    wrong = tape["delta"][p.layer - 1].T @ tape["pre"][p.layer - 2] + p.pen
    if matches(p.s, wrong):
        return Finding("preactivation-as-input",
                       f"∂L/∂W{p.layer} uses the pre-activation {{ha}} of the layer below instead of its activation "
                       f"{{hs}}: ∂L/∂W{p.layer} = {{grad_W_out}}{{hw:2.10}}")
    return None


def detect_zero_units(p: ParamView):
    """Errors confined to hidden units whose pre-activation is exactly 0 (or ≤ 0) somewhere."""
    if p.case.activation != "relu" or p.layer > len(p.ev.pre_activations):
        return None
    pre = p.ev.pre_activations[p.layer - 1]  # (K, units) of the layer this parameter produces
    err = np.abs(p.s - p.r).reshape(p.r.shape[0], -1).max(axis=1)
    scale = max(float(np.max(np.abs(p.r))), 1e-300)
    wrong_units = err > TOL.rtol * scale
    if not wrong_units.any():
        return None
    if np.all((pre == 0).any(axis=0)[wrong_units]):
        return Finding("relu-zero",
                       "errors only in hidden units whose pre-activation {ha} is exactly 0 for some example: the ReLU "
                       "derivative at 0 must be 0 ({rect}'(0) = 0, mask 1[{ha} > 0])")
    inactive = (pre <= 0).any(axis=0)
    if not inactive.all() and np.all(inactive[wrong_units]):
        return Finding("relu-mask",
                       "errors only in hidden units that are inactive ({ha} ≤ 0) for some example: the ReLU "
                       "derivative/mask is wrong there ({rect}'(x) = 1[x > 0])")
    return None


def detect_precision(p: ParamView):
    if p.max_rel_error < 1e-4:
        return Finding("precision",
                       f"small errors only (max relative {p.max_rel_error:.1e}): float32 arithmetic, or an "
                       "approximation (finite differences, a textbook softplus above x = 20); compute in float64")
    return None


PARAM_DETECTORS = [
    detect_nonfinite,
    detect_precision,
    detect_transposed,
    detect_sign,
    detect_scaled,
    detect_penalty_terms,
    detect_bias_regularised,
    detect_hypotheses,
    detect_accumulated,
    detect_scalar_added,  # after the previous call's answer (a constant there is that answer)
    detect_constant_factor,
    detect_all_zero,
    detect_preactivation_input,
    detect_zero_units,
]


def diagnose_param(p: ParamView) -> Finding | None:
    """The first (most specific) detector that explains this gradient, ranked by its position; or None."""
    for rank, detector in enumerate(PARAM_DETECTORS):
        finding = detector(p)
        if finding is not None:
            return replace(finding, rank=rank)
    return None
