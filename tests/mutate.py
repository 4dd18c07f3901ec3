"""Mutation testing, small and stdlib-only: would the tests notice a deliberate bug?

    python tests/mutate.py manual/optim.py -t tests/test_optim.py [-t tests/test_twins.py ...]
    python tests/mutate.py manual/optim.py -t tests/test_optim.py --list       # the mutants only
    python tests/mutate.py manual/optim.py -t tests/test_optim.py --only 3 17  # rerun some
    python tests/mutate.py compare/cli.py -t tests/test_cli.py -k "not ctrl_c_at_any_moment"  # some tests
    python tests/mutate.py manual/optim.py --stale  # the table's keys for this file that match no mutant

Each mutant is the module with ONE small change made on its syntax tree (an operator
swapped, a comparison moved by one, a constant changed, a check deleted, ...). The
repository is copied once to a scratch folder (``--workdir``, default a new temporary
folder); every mutant is written into that copy only, the chosen test files run there with
``pytest -x`` under a time limit, and the original text is written back in a ``finally``.
The working tree this script is started from is never written to.

A mutant is *killed* when the tests fail (or run past ``--timeout``), *survives* when they
pass. A surviving mutant is a bug the tests would let through, unless it is *equivalent*
(it computes the same thing, so no test can tell): those are listed in ``EQUIVALENT`` below
with the argument, and reported apart. Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Operator swaps: each is the bug a slip of the pen would make.
BINOP_SWAPS = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult],
    ast.FloorDiv: [ast.Div], ast.Pow: [ast.Mult], ast.Mod: [ast.FloorDiv],
}
COMPARE_SWAPS = {
    ast.Lt: [ast.LtE], ast.LtE: [ast.Lt], ast.Gt: [ast.GtE], ast.GtE: [ast.Gt],
    ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn], ast.NotIn: [ast.In],
}
# Functions mixed up for their twin (by the last part of the dotted name).
NAME_SWAPS = {
    "max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum",
    "argmax": "argmin", "argmin": "argmax", "any": "all", "all": "any",
    "zeros": "ones", "zeros_like": "ones_like", "ones_like": "zeros_like",
    "exp": "log", "log": "exp", "log1p": "log", "sqrt": "abs", "abs": "sqrt", "sign": "abs",
    "tanh": "sign",
}

# Calls whose arguments, swapped, are a TypeError at once (never a bug that runs) or the same value.
NOT_SWAPPED = {"isinstance", "issubclass", "getattr", "setattr", "hasattr", "max", "min", "array_equal"}

# Mutants argued equivalent: "file::function@line: before -> after" (see Mutant.key) -> why no test can tell them apart.
_COPY = ("the array is new already ({}), so astype(copy=False) only spares a second copy; "
         "copying it again changes no value, and nothing else holds it")
_UNUSED = "want_input_grad=True only computes ∂L/∂X as well, and the caller drops it (speed, not values)"
_TEMPORARY = ("{} is not read after this product, so writing the product into a new array instead of "
              "over it changes memory use, not values")
_COMMUTES = ("a product's two factors swapped: IEEE multiplication is commutative (a·b and b·a round to the "
             "same number), and the broadcast result has the same shape, written into the same array")
_FAST_PATH = ("the fast path only skips the general checks for a float already known valid; a float "
              "it no longer takes goes through the general path, which returns the same float")
_ZERO_LAMBDA = ("the test only skips a term whose λ is 0: adding 0·‖W‖ (or 0·∂‖W‖) changes nothing for "
                "a finite W; a non-finite W makes the loss and gradients non-finite through the forward "
                "pass anyway (only penalty() called alone would say NaN instead of 0 for λ = 0)")
_RECV = ("the size of one recv() only: the loop reads until exactly n bytes are in, whatever each "
         "recv returns")
_LINE = ("the frame's line (FrameSummary.line, SyntaxError.text) is read from the same file by linecache: "
         "the linecache branch is reached only without one, where it finds the same text or none")
_MASK = ("a fast path only: for anything but an array with masked entries, getmaskarray is all False and "
         "writing NaN where it is True changes nothing")
_STDERR = ("sys.stderr is line-buffered (Python ≥ 3.9, even into a pipe) and the line written ends with "
           "a newline: it is out before os._exit, flushed or not")
_SETUID = ("os.setgid/os.setuid raise OSError when they fail; after they succeed the real and effective "
           "ids are both uid, so the check after them cannot fire (it guards a libc that would fail silently)")
EQUIVALENT: dict[str, str] = {
    "manual/functions.py::sigmoid@31: np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 +"
    " e)).astype(x.dtype, copy=False) -> np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)": _COPY.format("np.where"),
    "manual/functions.py::sigmoid@31: False -> True": _COPY.format("np.where"),
    "manual/functions.py::sigmoid@31: x >= 0 -> x > 0":
        "the two branches agree at the only point that moves: at x = ±0, e = e^-0 = 1 and "
        "1/(1+e) = e/(1+e) = 0.5 exactly",
    "manual/functions.py::softplus@56: np.where(x > SOFTPLUS_THRESHOLD, x,"
    " textbook).astype(x.dtype, copy=False) -> np.where(x > SOFTPLUS_THRESHOLD, x,"
    " textbook).astype(x.dtype)": _COPY.format("np.where"),
    "manual/functions.py::softplus@56: False -> True": _COPY.format("np.where"),
    "manual/functions.py::softplus_grad@62: np.where(x > SOFTPLUS_THRESHOLD, 1,"
    " sigmoid(x)).astype(x.dtype, copy=False) -> np.where(x > SOFTPLUS_THRESHOLD, 1,"
    " sigmoid(x)).astype(x.dtype)": _COPY.format("np.where"),
    "manual/functions.py::softplus_grad@62: False -> True": _COPY.format("np.where"),
    "manual/functions.py::rect@88: np.maximum(x, 0).astype(x.dtype, copy=False) -> np.maximum(x,"
    " 0).astype(x.dtype)":
        _COPY.format("np.maximum"),
    "manual/functions.py::rect@88: False -> True": _COPY.format("np.maximum"),
    "manual/functions.py::softmax_jacobian@139: 1 -> 2": "reshape(-2) is reshape(-1): NumPy infers any negative size",
    # manual/mlp.py
    "manual/mlp.py::MLP.forward@90: functions.softmax(self.logits(X), axis=1) -> functions.softmax(self.logits(X))":
        "the logits are 2-D, so softmax's default axis -1 is axis 1",
    "manual/mlp.py::MLP.loss@127: functions.log_softmax(o_a, axis=1) -> functions.log_softmax(o_a)":
        "the logits are 2-D, so log_softmax's default axis -1 is axis 1",
    "manual/mlp.py::MLP.loss_and_grads@144: False -> True": _UNUSED,
    "manual/mlp.py::MLP._penalty@106: if lam1: total += lam1 * float(functions.l1(W)) -> "
    "if True: total += lam1 * float(functions.l1(W))": _ZERO_LAMBDA,
    "manual/mlp.py::MLP._penalty@108: if lam2: total += lam2 * float(functions.l2_squared(W)) -> "
    "if True: total += lam2 * float(functions.l2_squared(W))": _ZERO_LAMBDA,
    "manual/mlp.py::MLP._add_penalty_grads@117: if lam1: grads[f\"W{layer}\"] += lam1 * functions.l1_grad(W) -> "
    "if True: grads[f'W{layer}'] += lam1 * functions.l1_grad(W)": _ZERO_LAMBDA,
    "manual/mlp.py::MLP._add_penalty_grads@119: if lam2: grads[f\"W{layer}\"] += lam2 * functions.l2_squared_grad(W) -> "
    "if True: grads[f'W{layer}'] += lam2 * functions.l2_squared_grad(W)": _ZERO_LAMBDA,
    # manual/fast.py
    "manual/fast.py::FastMLP._add_scaled_penalty_grads@99: if lam1: steps[f\"W{layer}\"] += (scale * lam1) * "
    "functions.l1_grad(W) -> if True: steps[f'W{layer}'] += scale * lam1 * functions.l1_grad(W)": _ZERO_LAMBDA,
    "manual/fast.py::FastMLP._add_scaled_penalty_grads@101: if lam2: steps[f\"W{layer}\"] += (scale * lam2) * "
    "functions.l2_squared_grad(W) -> if True: steps[f'W{layer}'] += scale * lam2 * functions.l2_squared_grad(W)":
        _ZERO_LAMBDA,
    "manual/fast.py::FastMLP._backprop_into@121: np.multiply(exp_o_a, (scale / K) / sum_exp, out=exp_o_a) -> "
    "np.multiply(exp_o_a, scale / K / sum_exp)": _TEMPORARY.format("exp_o_a"),
    "manual/fast.py::FastMLP._backprop_into@130: np.multiply(grad_s, self._act_grad(h_a[layer - 2]), out=grad_s) -> "
    "np.multiply(grad_s, self._act_grad(h_a[layer - 2]))": _TEMPORARY.format("grad_s"),
    "manual/fast.py::FastMLP._backprop_into@121: np.multiply(exp_o_a, (scale / K) / sum_exp, out=exp_o_a) -> "
    "np.multiply(scale / K / sum_exp, exp_o_a, out=exp_o_a)": _COMMUTES,
    "manual/fast.py::FastMLP._backprop_into@130: np.multiply(grad_s, self._act_grad(h_a[layer - 2]), out=grad_s) -> "
    "np.multiply(self._act_grad(h_a[layer - 2]), grad_s, out=grad_s)": _COMMUTES,
    # manual/finite_diff.py
    "manual/finite_diff.py::finite_difference_grads@29: np.zeros(theta.shape, dtype=np.float64) ->"
    " np.ones(theta.shape, dtype=np.float64)": "every entry of grad is assigned in the loop before it is returned",
    "manual/finite_diff.py::finite_difference_grads@29: np.zeros(theta.shape, dtype=np.float64) ->"
    " np.zeros(theta.shape)":
        "np.zeros makes float64 by default",
    "manual/finite_diff.py::finite_difference_grads@30: 1 -> 2": "reshape(-2) is reshape(-1): NumPy infers any negative size",
    "manual/finite_diff.py::finite_difference_grads@40: 1 -> 2": "reshape(-2) is reshape(-1): NumPy infers any negative size",
    # manual/checks.py
    "manual/checks.py::check_lambdas@74: 1 -> 2": "reshape(-2) is reshape(-1): NumPy infers any negative size",
    'manual/checks.py::check_positive@52: if type(value) is float and 0.0 < value < float("inf"): #'
    " the common case, checked fast (every step) return value -> if False: return value": _FAST_PATH,
    "manual/checks.py::check_positive@52: 0.0 -> 1.0": _FAST_PATH,
    "manual/functions.py::log_softmax_grad@145: 1 -> 2": "reshape(-2) is reshape(-1): NumPy infers any negative size",
    # compare/grader/sandbox/wire.py
    'compare/grader/sandbox/wire.py::encode@44: np.array(array, dtype=DTYPES[kind], order="C",'
    " copy=None) -> np.array(array, dtype=DTYPES[kind], order='C')":
        "copy=None copies only when it must; a copy every time sends the same bytes (tobytes copies anyway)",
    "compare/grader/sandbox/wire.py::FrameReader.feed@121: if self.wanted is None: if"
    " len(self.buffer) < PREFIX.size: return frames magic, n_head, n_body = PREFIX.unpack_from(self"
    " -> if True: if len(self.buffer) < PREFIX.size: return frames magic, n_head, n_body ="
    " PREFIX.unpack_from(self.buffer) if mag":
        "the prefix is read again from the same first 16 bytes (the buffer is cut only once the frame is "
        "whole): the same lengths, checked against the same caps",
    "compare/grader/sandbox/wire.py::decode@84: (UnicodeDecodeError, ValueError, RecursionError) ->"
    " (ValueError, RecursionError)":
        "UnicodeDecodeError is a ValueError: the tuple catches it either way",
    # compare/cli.py
    "compare/cli.py::interrupt_exits_at_once.handler@117: sys.stderr.flush() -> pass": _STDERR,
    "compare/cli.py::run@215: sys.stderr.flush() -> pass": _STDERR,
    "compare/cli.py::run_guarded.guarded@247: (KeyboardInterrupt, UsageError) -> (UsageError,)":
        "KeyboardInterrupt is not an Exception: the `except Exception` below lets it through to run() either way",
    # compare/grader/sandbox/host.py
    "compare/grader/sandbox/host.py::_where@46: text is not None -> text is None": _LINE,
    "compare/grader/sandbox/host.py::_where@46: linecache.getline(filename, lineno or 0) ->"
    " linecache.getline(lineno or 0, filename)": _LINE,
    "compare/grader/sandbox/host.py::_where@46: lineno or 0 -> lineno and 0": _LINE,
    "compare/grader/sandbox/host.py::_where@46: 0 -> 1": _LINE,
    "compare/grader/sandbox/host.py::describe_exception@62: 1 -> 2":
        "split(' (', 2)[0] is split(' (', 1)[0]: the first piece does not depend on maxsplit",
    "compare/grader/sandbox/host.py::as_float_array@222: if isinstance(value, np.ma.MaskedArray)"
    " and np.ma.is_masked(value): # np.asarray dropped the mask copy[np.ma.getmaskarra -> if True:"
    " copy[np.ma.getmaskarray(value)] = np.nan":
        _MASK,
    "compare/grader/sandbox/host.py::as_float_array@222: isinstance(value, np.ma.MaskedArray) and"
    " np.ma.is_masked(value) -> isinstance(value, np.ma.MaskedArray) or np.ma.is_masked(value)": _MASK,
    "compare/grader/sandbox/host.py::_first_not_holding@243: np.asarray(got, dtype=np.float64) ->"
    " np.asarray(got)":
        "np.array_equal promotes both sides to a common type anyway; a value that cannot be read as float64 "
        "is unequal to the float64 written either way",
    # compare/grader/sandbox/worker.py
    "compare/grader/sandbox/worker.py::_drop_privileges@63: if os.getuid() != uid or os.geteuid()"
    ' != uid: raise SystemExit("worker: could not drop privileges") -> pass': _SETUID,
    "compare/grader/sandbox/worker.py::_drop_privileges@63: os.getuid() != uid or os.geteuid() !="
    " uid -> os.getuid() != uid and os.geteuid() != uid": _SETUID,
    'compare/grader/sandbox/worker.py::_drop_privileges@64: raise SystemExit("worker: could not'
    ' drop privileges") -> pass':
        _SETUID,
    "compare/grader/sandbox/worker.py::_die_with_parent@72: True -> False":
        "use_errno only keeps errno for ctypes.get_errno(), which nothing reads: prctl is called the same",
    "compare/grader/sandbox/worker.py::_load_grader_modules@83: spec.loader.exec_module(package) -> pass":
        "compare/grader/__init__.py holds a docstring and nothing else (it must import nothing): running it "
        "only sets __doc__; the submodules load through the package's search location either way",
    "compare/grader/sandbox/worker.py::serve@101: 0 -> 1":
        "meta_path[0] under -I -S is BuiltinImporter, which finds only modules compiled into the interpreter "
        "(none of the refused names is one): the refusal at position 1 still comes before every finder of files",
    "compare/grader/sandbox/worker.py::serve@132: (OSError, wire.WireError, ValueError) ->"
    " (wire.WireError, ValueError)":
        "an OSError here means the channel is broken: the fallback reply on the same channel raises it again, "
        "so the worker ends the same way (exit 1) with or without the first catch, and no grader is reading",
    "compare/grader/sandbox/worker.py::serve@132: (OSError, wire.WireError, ValueError) ->"
    " (OSError, wire.WireError)":
        "wire.encode turns every JSON error (NaN, a value JSON cannot hold) into WireError, and the arrays it "
        "is given are float64 copies made by the host: nothing in write_frame raises ValueError any more",
    "compare/grader/sandbox/worker.py::main@139: True -> False":
        "required=True on --fd: the grader always passes --fd (without it socket(fileno=None) fails at once "
        "either way)",
    "compare/grader/sandbox/worker.py::main@150: 0 -> 1":
        "sys.path[0] under -I (which implies -P) and -S is the standard library's zip (python311.zip), absent "
        "from the installation: replacing it instead of inserting before it loses no module",
    "compare/grader/sandbox/worker.py::main@155: sock.setblocking(True) -> pass":
        "the channel's fd comes from socketpair() blocking (only the grader's end is made non-blocking), and "
        "socket(fileno=...) keeps the fd's mode: it is blocking already",
    "compare/grader/sandbox/wire.py::_read_exactly@146: 1 -> 2": _RECV,
    "compare/grader/sandbox/wire.py::_read_exactly@146: 20 -> 21": _RECV,
    "compare/grader/sandbox/wire.py::_read_exactly@146: 20 -> 19": _RECV,
    # compare/grader/workers/runner.py and isolation.py (the sandbox's limits): timing, not behaviour
    "compare/grader/workers/runner.py::WorkerRunner._check_use@232: self.checked = time.monotonic()"
    " -> pass":
        "without the time of the last look, the grader looks at the worker's use on every pass of its "
        "wait instead of every 0.1 s: the same limits, found as soon, at a higher cost in CPU",
    "compare/grader/workers/isolation.py::Worker.kill@262: 10 -> 11":
        "how long to wait for a worker sent SIGKILL before sending it again: the kernel ends it at once, "
        "so neither 10 s nor 11 s is ever reached",
    "compare/grader/workers/isolation.py::Worker.kill@262: 10 -> 9": "as 10 -> 11: a bound that a SIGKILLed worker never reaches",
    "compare/grader/workers/isolation.py::Worker.kill@264: _kill(self.process.pid) -> pass":
        "only run when a worker outlives SIGKILL to its process group by 10 s, which the kernel does not "
        "let happen to a running process (the grader would then wait on it without the second signal)",
    "compare/grader/workers/isolation.py::Worker.kill@265: self.process.wait() -> pass":
        "as the line above: only after a worker outlived SIGKILL by 10 s, which does not happen",
}

# ---- issue 20: the workers (isolation, runner) and the course's assignment file.
_ONE_ENTRY = ("lru_cache(maxsize=...) of a function without arguments: it only ever holds the one entry, "
              "whatever the size")
_LOOK_PERIOD = ("how often the grader looks at what the submission as a whole uses while it waits: the same "
                "limits, found a little sooner or later (no test can tell without racing a clock)")
_NO_LINK_HERE = ("a link returned True on the first line of _skip: is_dir/is_file are asked only of an entry that "
                 "is not one, so following links changes nothing")
_RECV_SIZE = ("the most one recv asks for, above what the frame reader needs anyway (its header or body's "
              "rest, at most a frame): the frame is read whole and alone either way, in more or fewer pieces")
_SYSCONF = "the fallback page size is used only where os has no sysconf: Linux has it"
_READ_SIZE = "the size of one read of stderr: it is read until empty, and only its last 4096 bytes are kept"
_EXIT_WAIT = ("how long to wait for the exit status of a worker whose channel ended: a worker that exited is "
              "reaped at once, one that lives on (a child holds the channel) is reported so after either wait")
_NOTHING_FOR_9 = "the .get(..., '') default: a signal without a word adds nothing, listed or not"
_REAP_PACE = ("how long and how often the grader waits for killed processes to be reaped: the ones reparented "
              "to it are reaped as soon either way (the tests check none is left); only the wait's length "
              "changes, which no test can tell without racing a clock")
_NEVER_IN_TREE = ("descendants() never returns its root, the orphans taken are children of the grader other "
                  "than the root, and the grader is no worker's descendant: neither is ever in the set removed")
_FUTURE = ("the only future flag compile() could inherit here is sources.py's `annotations`, which changes when "
           "annotations are evaluated, not which text compiles")
_CACHE_SIZE = ("how many answers an lru_cache keeps: one evicted is worked out again from the same installed "
               "metadata, the same answer")
_CHUNK = ("the size of one read only: the file was found no larger than the cap before reading, and a read "
          "past the cap (a file that grew) is refused after it either way")
# --- issue 20: compare/grader/diagnosis/ ---
_FLOAT64_ANYWAY = ("compare_arrays converts both arrays to float64 itself, and the shape and isfinite checks "
                   "before it read the same shape and the same finiteness of any numeric array")
_INTO_X = ("the first layer's input is X, which needs no gradient: how backprop would route into X (through "
           "W or Wᵀ) is never used, and the weight and bias gradients are the same either way")
_SAME_AS_REFERENCE = ("{} equals the reference loss, and a loss is diagnosed only when it failed (it is not the "
                      "reference's): a candidate equal to the reference can never match it")
_SWAPPED_MATCH = ("the student's loss is finite here (a non-finite one is told before), so swapped, matches() "
                  "still refuses a non-finite candidate (compare_arrays counts NaN or inf against a finite number "
                  "as the worst error), and two finite scalars agree to rtol the same way either side")
_PERF_ONLY = ("computing a case-only hypothesis again (per submission, or at every call) gives the same "
              "numbers: it is deterministic and depends on the case alone; only the time changes")
EQUIVALENT.update({
    "compare/grader/diagnosis/evidence.py::matches@26: np.asarray(actual, dtype=np.float64) -> np.asarray(actual)":
        _FLOAT64_ANYWAY,
    "compare/grader/diagnosis/evidence.py::matches@27: np.asarray(expected, dtype=np.float64) -> np.asarray(expected)":
        _FLOAT64_ANYWAY,
    "compare/grader/diagnosis/evidence.py::matches@30: compare_arrays(actual, expected, TOL) -> "
    "compare_arrays(expected, actual, TOL)":
        "compare_arrays is symmetric in its arrays but for the scale floor (from max|expected|): for two arrays "
        "that agree to rtol the two maxima differ by at most rtol relative, which moves the floor by that much "
        "(a sliver of width ~rtol² at the tolerance's edge, no bug's numbers sit there)",
    "compare/grader/diagnosis/evidence.py::Evidence.hypothesis@79: if not hyp.per_submission: "
    "return self.shared.remember((\"hypothesis\", hyp), compute) -> if False: "
    "return self.shared.remember(('hypothesis', hyp), compute)": _PERF_ONLY,
    "compare/grader/diagnosis/evidence.py::Evidence.hypothesis@80: (\"hypothesis\", hyp) -> (hyp,)":
        "the shared memo's other keys are strings (\"data\", \"tape\", ...): (hyp,) is as unique a key as "
        "(\"hypothesis\", hyp)",
    "compare/grader/diagnosis/loss.py::loss_candidates@43: if case.regularised: out += [ (\"loss-no-penalty\", "
    "\"the loss has no penalty term: add {pen_loss}{hw:2.18}\", nll), (\"biase -> if True: out += "
    "[('loss-no-penalty', 'the loss has no penalty term: add {pen_loss}{hw:2.18}', nll), ('biases-regularised":
        _SAME_AS_REFERENCE.format("with every λ 0 the penalty is 0, so each of these candidates"),
    "compare/grader/diagnosis/loss.py::loss_candidates@65: if K > 1: out += [ (\"sum-not-mean\", LOSS_TIMES_K, "
    "K * nll + pen), (\"sum-not-mean\", LOSS_TIMES_K, K * (nll + pen)), (\"mea -> if True: out += "
    "[('sum-not-mean', LOSS_TIMES_K, K * nll + pen), ('sum-not-mean', LOSS_TIMES_K, K * (nll + pen)), ('mean-":
        _SAME_AS_REFERENCE.format("for K = 1 the sum is the mean, so each of these candidates"),
    "compare/grader/diagnosis/loss.py::loss_candidates@65: K > 1 -> K >= 1":
        _SAME_AS_REFERENCE.format("for K = 1 the sum is the mean, so each of these candidates"),
    "compare/grader/diagnosis/loss.py::_loss_finding@91: matches(student_loss, value) -> matches(value, student_loss)":
        _SWAPPED_MATCH,
    "compare/grader/diagnosis/loss.py::_loss_finding@95: matches(student_loss, result[0]) -> "
    "matches(result[0], student_loss)": _SWAPPED_MATCH,
    "compare/grader/diagnosis/variants.py::altered_loss_and_grads@65: np.array(case.X, dtype=np.float64) -> "
    "np.array(case.X)": "a case's X is float64 already (cases.py builds every X as float64): the same array",
    "compare/grader/diagnosis/variants.py::altered_loss_and_grads@66: np.array(case.y if labels is None else labels, "
    "dtype=np.int64) -> np.array(case.y if labels is None else labels)":
        "case.y is int64 already, and the other labels are label shifts of it (int64 too): the same array",
    "compare/grader/diagnosis/variants.py::altered_loss_and_grads.linear@74: index > 0 -> index >= 0": _INTO_X,
    "compare/grader/diagnosis/variants.py::altered_loss_and_grads@81: len(model.layers) - 1 -> len(model.layers) + 1":
        "the index only feeds `index > 0` in linear(): the last layer's L-1 and L+1 are both > 0, except for a "
        "one-layer network, whose last layer takes X itself: " + _INTO_X,
    "compare/grader/diagnosis/evidence.py::Evidence.hypothesis@81: if hyp not in self._own: "
    "self._own[hyp] = compute() -> if True: self._own[hyp] = compute()": _PERF_ONLY,
})
_PY311 = ("equivalent on the interpreter the tests run on (3.11 and newer): the mutated version test takes the "
          "same branch there and imports tomllib; only a 3.10 interpreter (tomli) could tell them apart")
EQUIVALENT.update({
    "compare/grader/workers/isolation.py::_bubblewrap_problem@98: 1 -> 2": _ONE_ENTRY,
    "compare/grader/workers/isolation.py::throwaway_uid_works@133: 1 -> 2": _ONE_ENTRY,
    "compare/grader/workers/runner.py::<module>@39: 0.1 -> 1.0": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::<module>@39: 0.1 -> 0.01": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner.__init__@97: 0.0 -> 1.0":
        "the time of the last look starts long before any request (time.monotonic counts from boot, "
        "hours ago): with 0.0 or 1.0 alike the first look is due at once",
    "compare/grader/workers/runner.py::<module>@40: (\"load\", \"forbidden\", \"raised\", \"contract\", \"channel\", "
    "\"timeout\", \"died\") -> ('load', 'forbidden', 'raised', 'channel', 'timeout', 'died')":
        "a kind missing from KINDS is read as 'contract': 'contract' itself comes out 'contract' either way",
    "compare/grader/workers/isolation.py::_reap@285: 2.0 -> 20.0": _REAP_PACE,
    "compare/grader/workers/isolation.py::_reap@290: time.monotonic() < deadline -> time.monotonic() <= deadline":
        _REAP_PACE,
    "compare/grader/workers/isolation.py::_reap@299: if pending: time.sleep(0.01) -> if False: time.sleep(0.01)":
        _REAP_PACE,
    "compare/grader/workers/isolation.py::_reap@300: time.sleep(0.01) -> pass": _REAP_PACE,
    "compare/grader/workers/isolation.py::_reap@300: 0.01 -> 0.1": _REAP_PACE,
    "compare/grader/workers/isolation.py::_process_tree@337: {root, me} -> {me}": _NEVER_IN_TREE,
    "compare/grader/workers/isolation.py::_process_tree@337: {root, me} -> {root}": _NEVER_IN_TREE,
    "compare/grader/workers/isolation.py::_become_subreaper@379: True -> False":
        "use_errno only keeps errno for ctypes.get_errno(), which nothing reads: prctl is called the same",
    "compare/grader/workers/isolation.py::_become_subreaper@379: 1 -> 2":
        "PR_SET_CHILD_SUBREAPER takes any non-zero second argument as 'set'",
    "compare/grader/workers/runner.py::WorkerRunner._send@189: if not writable: continue -> if False: continue":
        "select says not writable only when its wait ran out; the send that follows on the full non-blocking "
        "socket raises BlockingIOError, which continues the loop the same way",
    "compare/grader/workers/runner.py::WorkerRunner._receive@203: if time.monotonic() - self.checked >= "
    "CHECK_INTERVAL: self._check_use(what) -> if True: self._check_use(what)": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner._receive@203: time.monotonic() - self.checked >= CHECK_INTERVAL "
    "-> time.monotonic() - self.checked > CHECK_INTERVAL": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner._receive@203: time.monotonic() - self.checked -> "
    "time.monotonic() + self.checked": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner._receive@226: if time.monotonic() - self.checked >= "
    "CHECK_INTERVAL: self._check_use(what) -> if True: self._check_use(what)": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner._receive@226: time.monotonic() - self.checked >= CHECK_INTERVAL "
    "-> time.monotonic() - self.checked > CHECK_INTERVAL": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner._receive@226: time.monotonic() - self.checked -> "
    "time.monotonic() + self.checked": _LOOK_PERIOD,
    "compare/grader/workers/runner.py::WorkerRunner._receive@208: min(left, CHECK_INTERVAL) -> "
    "max(left, CHECK_INTERVAL)":
        "how long one wait for the channel lasts: a reply or stderr ends the wait at once either way; only "
        "the looks at what the submission uses (and at a worker gone while a child holds the channel) come "
        "later, which no test can tell without racing a clock",
    "compare/grader/workers/runner.py::WorkerRunner._receive@213: if sock in readable: try: data = "
    "sock.recv(min(self.reader.needed(), 1 << 20)) except BlockingIOError: continue except O -> if True: try: "
    "data = sock.recv(min(self.reader.needed(), 1 << 20)) except BlockingIOError: continue except OSError: data":
        "a recv on the non-blocking channel with nothing in it raises BlockingIOError, which continues the loop "
        "as skipping the recv does",
    "compare/grader/workers/runner.py::WorkerRunner._receive@215: 1 -> 2": _RECV_SIZE,
    "compare/grader/workers/runner.py::WorkerRunner._receive@215: 20 -> 21": _RECV_SIZE,
    "compare/grader/workers/runner.py::WorkerRunner._receive@215: 20 -> 19": _RECV_SIZE,
    "compare/grader/submissions/submission.py::copy_submission@260: False -> True": _NO_LINK_HERE,
    "compare/grader/sandbox/sources.py::read_bytes@62: 0 -> 1":
        "the default of getattr(os, 'O_CLOEXEC', ...) is used only where os has no O_CLOEXEC: Linux has it",
    "compare/grader/sandbox/sources.py::read_bytes@76: total <= limit -> total < limit": _CHUNK,
    "compare/grader/sandbox/sources.py::read_bytes@77: min(_CHUNK, limit + 1 - total) -> max(_CHUNK, limit + 1 - total)":
        _CHUNK,
    "compare/grader/sandbox/sources.py::read_bytes@77: limit + 1 - total -> limit + 1 + total": _CHUNK,
    "compare/grader/sandbox/sources.py::read_bytes@77: 1 -> 2": _CHUNK,
    "compare/grader/sandbox/sources.py::decode_python@119: raise SourceError(f\"{name}: unknown encoding "
    "{clean_text(encoding, 40)!r}\") from None -> pass":
        "tokenize.detect_encoding looks the codec up itself (an unknown one is its SyntaxError, caught above): "
        "the LookupError this guards cannot follow",
    "compare/grader/sandbox/sources.py::parse_cell@233: if magics: retried, _ = _parse(\"\\n\".join(stripped), "
    "filename) if retried is not None: return retried, None -> if True: retried, _ = _parse('\\n'.join(stripped), "
    "filename) if retried is not None: return (retried, None)":
        "without IPython lines the text retried is the text that failed: it fails again, and the first error "
        "is returned",
    "compare/grader/submissions/submission.py::plan_stubs@306: if relative.endswith(\".py\"): modules |= "
    "modules_imported_by(source) -> if True: modules |= modules_imported_by(source)":
        "the only generated files are the modules written for a notebook (NAME.py): every one ends in .py",
    "compare/grader/submissions/submission.py::plan_stubs@309: if path.relative_to(sub.root).as_posix() not in "
    "sub.generated: modules |= imported_modules(path) -> if True: modules |= imported_modules(path)":
        "a generated module's name is chosen where no file of that name exists (from_notebook): reading it from "
        "the disk finds nothing and adds no module",
    "compare/grader/submissions/submission.py::_python_files@347: len(files) > MAX_SCANNED_FILES -> "
    "len(files) >= MAX_SCANNED_FILES":
        "the list is cut to MAX_SCANNED_FILES after the walk: stopping one folder sooner or later keeps the same "
        "first files",
    "compare/grader/workers/usage.py::<module>@23: 4096 -> 4097": _SYSCONF,
    "compare/grader/workers/usage.py::<module>@23: 4096 -> 4095": _SYSCONF,
    "compare/grader/workers/runner.py::WorkerRunner._receive@211: if err in readable: self._drain_stderr() -> "
    "if True: self._drain_stderr()":
        "draining a stderr with nothing in it: the non-blocking read raises BlockingIOError at once, caught",
    "compare/grader/workers/runner.py::WorkerRunner._drain_stderr@241: 65536 -> 65537": _READ_SIZE,
    "compare/grader/workers/runner.py::WorkerRunner._drain_stderr@241: 65536 -> 65535": _READ_SIZE,
    "compare/grader/workers/runner.py::WorkerRunner._drain_stderr@245: (BlockingIOError, OSError) -> (OSError,)":
        "BlockingIOError is an OSError: the tuple catches it either way",
    "compare/grader/workers/runner.py::WorkerRunner._died@251: 2 -> 3": _EXIT_WAIT,
    "compare/grader/workers/runner.py::WorkerRunner._died@251: 2 -> 1": _EXIT_WAIT,
    "compare/grader/workers/runner.py::WorkerRunner._died@260: {24: \", its CPU time limit\", 9: \"\"} -> "
    "{24: ', its CPU time limit'}": _NOTHING_FOR_9,
    "compare/grader/workers/runner.py::WorkerRunner._died@260: 9 -> 10": _NOTHING_FOR_9,
    "compare/grader/workers/runner.py::WorkerRunner._died@260: 9 -> 8": _NOTHING_FOR_9,
    "compare/grader/sandbox/sources.py::<module>@34: 1024 -> 1025": _CHUNK,
    "compare/grader/sandbox/sources.py::<module>@34: 1024 -> 1023": _CHUNK,
    "compare/grader/sandbox/sources.py::<module>@34#2: 1024 -> 1025": _CHUNK,
    "compare/grader/sandbox/sources.py::<module>@34#2: 1024 -> 1023": _CHUNK,
    "compare/grader/sandbox/sources.py::parse_cell@231: tree is None and isinstance(error, SyntaxError) -> "
    "tree is None or isinstance(error, SyntaxError)":
        "a cell fails with something other than a SyntaxError only when it is nested too deeply to parse; "
        "an IPython line in it is a SyntaxError first, so the retry never has one to set aside: it fails the "
        "same way and the first error is returned",
    "compare/grader/sandbox/syntax.py::_compile_problem@54: True -> False": _FUTURE,
    "compare/grader/sandbox/syntax.py::_compile_error@63: True -> False": _FUTURE,
    "compare/grader/workers/packages.py::_distributions_of@43: 4 -> 5": _CACHE_SIZE,
    "compare/grader/workers/packages.py::_distributions_of@43: 4 -> 3": _CACHE_SIZE,
    "compare/grader/workers/packages.py::_visible@131: 16 -> 17": _CACHE_SIZE,
    "compare/grader/workers/packages.py::_visible@131: 16 -> 15": _CACHE_SIZE,
    "compare/grader/submissions/submission.py::_imports@140: elif node.module: tops.add(node.module.split(\".\")[0]) "
    "-> if True: tops.add(node.module.split('.')[0])":
        "an ImportFrom without a module is relative (`from . import x`): Python allows no other, and the "
        "relative ones are taken by the branch above",
    "compare/grader/submissions/submission.py::package_context@154: need < len(folders) -> need <= len(folders)":
        "one more look, at top's own __init__.py, can raise need by one past len(folders), and need is cut to "
        "len(folders) below before it is used",
    "compare/grader/submissions/submission.py::_skip@173: False -> True": _NO_LINK_HERE,
    "compare/grader/submissions/submission.py::_skip@180: False -> True": _NO_LINK_HERE,
    "compare/grader/submissions/submission.py::_skip@180#2: False -> True": _NO_LINK_HERE,
    "compare/grader/submissions/submission.py::_copy_regular_file@197: copied <= limit -> copied < limit":
        "the last read asks for limit + 1 - copied bytes, so a file over the cap shows it in the read that "
        "reaches the cap; the loop's bound differs only for a file that grows between two reads, which no "
        "test can arrange without racing a writer",
    "compare/grader/submissions/submission.py::_copy_regular_file@198: min(1 << 20, limit + 1 - copied) -> "
    "max(1 << 20, limit + 1 - copied)": _CHUNK,
    "compare/grader/submissions/submission.py::_copy_regular_file@198: 1 -> 2": _CHUNK,
    "compare/grader/submissions/submission.py::_copy_regular_file@198#2: 1 -> 2":
        "reading up to two bytes past the cap instead of one: a file that grew past the cap is seen past it "
        "(copied > limit) and refused either way",
    "compare/grader/submissions/submission.py::_copy_regular_file@198: 20 -> 21": _CHUNK,
    "compare/grader/submissions/submission.py::_copy_regular_file@198: 20 -> 19": _CHUNK,
    "compare/grader/submissions/submission.py::_copy_regular_file@198: limit + 1 - copied -> limit + 1 + copied":
        _CHUNK,
    "compare/grader/course/assignment.py::<module>@59: if sys.version_info >= (3, 11): import tomllib else: "
    "# pragma: no cover - Python 3.10 import tomli as tomllib -> if True: import tomllib else: import tomli as "
    "tomllib": _PY311,
    "compare/grader/course/assignment.py::<module>@59: sys.version_info >= (3, 11) -> sys.version_info > (3, 11)":
        _PY311,
    "compare/grader/course/assignment.py::<module>@59: (3, 11) -> (3,)": _PY311,
    "compare/grader/course/assignment.py::<module>@59: 3 -> 2": _PY311,
    "compare/grader/course/assignment.py::<module>@59: 11 -> 10": _PY311,
})

# ---- issue 20 (helper h20b): the class run's modules, compare/grader/{outputs,shards,points,classfolder,
# summary,options}.py, compare/grade.py and compare/grader/classrun.py. One contiguous block; the arguments first, then the keys.
_CLEANED = ("the text is clean_text's already: control characters (tab and CR among them) became blanks and "
            "leading blanks were dropped, so it never starts with {}: the test can never be true")
_LISTDIR = ("the names are kept only when they are in os.listdir's result, which never holds '.' or '..': "
            "the set is the same without this test")
_SYMMETRIC = "os.path.samefile(a, b) is samefile(b, a): both are stat-ed and their device and inode compared"
_LINK_ROW = ("_file_type is asked only about entries scan and walk saw as not a link (links are taken apart "
             "before), not a folder and not a regular file: on Linux those are FIFOs, devices and sockets, all "
             "matched by an earlier row, so the link row is never reached")
_SET_LAST = ("student.submission is assigned as the last step of _prepare_file and _prepare_folder, after "
             "everything that raises StudentError: when one is raised, it is None already")
_PASSED = "every caller passes this argument: the default is never used"
_STR_OR_PATH = ("every use of folder and out takes a str as well as a Path (os.scandir, os.path.samefile, "
                "OutputFolder and write_summary convert them): the conversion changes no file and no row")
_CLAIMED_TWICE = ("a second claim() of a folder just claimed finds its marker listing no file, deletes nothing "
                  "and writes the same marker header: the same folder, the same files")
_WARM_UP = ("battery.prepare only computes ahead what battery.reference computes once per case and process, on first use (a cache under a lock): "
            "computing it before the students only moves the work out of the grading threads")
_STRICT_ALREADY = ("the report's to_dict() is json_safe already (NaN and infinities made strings): "
                   "allow_nan has nothing to refuse")
_SECOND_SHUTDOWN = ("after as_completed has seen every future, or after shutdown(wait=False, cancel_futures=True) "
                    "on Ctrl-C, this second shutdown has nothing left to cancel and the results are read from "
                    "futures already done: removing it changes no row")
_QUEUED_AFTER_STOP = ("a student still queued at the stop is not graded either way: when its turn comes, grade.one "
                      "sees the stop and returns at once (test_a_student_whose_turn_comes_after_the_stop_is_not_graded"
                      "); cancelling the queue only spares the pool those turns")
_NEVER_REACHED = ("a bound that is never reached: after kill_all every worker is dead, and the threads waiting on "
                  "them return at once (the stop tests see every awaited future done, none left by the timeout)")
_FIRST_OF = "most_common(2)[0] is most_common(1)[0]: the first of the list does not depend on its length"
_ANY_SEED = ("the names and order of the battery's cases do not depend on the seed (only their numbers do), and "
             "the scores read only the names")
_NOT_A_LINK = ("asked only of an entry found not to be a link just before (links are set apart first): "
               "following links changes nothing for it")
# ---- issue 17 (helper cmds): compare/grader/validation.py and the parts of compare/cli.py it moved there.
_ONE_NAME = ("with one factory name (or none: the spec named it) the branch finds that name again, or none, and "
             "leaves the target, the submission and also_factories (names[1:], empty) as they were")
EQUIVALENT.update({
    "compare/grader/validation.py::_runner@54: 1 -> 2":
        "target.attr.rsplit('.', 2)[-1] is rsplit('.', 1)[-1]: the last dotted part whatever the number of splits",
    "compare/grader/validation.py::_runner@76: 1 -> 2":
        "submission.attr.rsplit('.', 2)[-1] is rsplit('.', 1)[-1]: the last dotted part whatever the number of splits",
    'compare/grader/validation.py::_runner@68: if len(names) > 1: defined = _defined_names(submission) found = next((n for n in names if n.split(".")[0] in defined), N -> if True: defined = _defined_names(submission) found = next((n for n in names if n.split(\'.\')[0] in defined), None) if fo':
        _ONE_NAME,
    "compare/grader/validation.py::_runner@68: len(names) > 1 -> len(names) >= 1": _ONE_NAME,
    "compare/cli.py::write_json_atomic@309: 0 -> 1":
        "os.umask(x) returns the mask in force whatever x is, and the next line puts that mask back: the value "
        "set in between is never used (nothing is created in that moment)",
})

EQUIVALENT.update({
    'compare/grader/results/outputs.py::<module>@31: ("grades.csv", "summary.json", "summary.png")'
    " -> ('grades.csv', 'summary.png')":
        "RUN_FILES is read in one place, beside n.endswith(('.md', '.json')): summary.json is taken either way",
    'compare/grader/results/outputs.py::csv_cell@68: ("=", "+", "-", "@", "\\t", "\\r") -> (\'=\', \'+\','
    " '-', '@', '\\r')": _CLEANED.format("a tab"),
    'compare/grader/results/outputs.py::csv_cell@68: ("=", "+", "-", "@", "\\t", "\\r") -> (\'=\', \'+\','
    " '-', '@', '\\t')": _CLEANED.format("a carriage return"),
    'compare/grader/results/outputs.py::OutputFolder._earlier_run@133: (".", "..") -> (\'..\',)': _LISTDIR,
    'compare/grader/results/outputs.py::OutputFolder._earlier_run@133: (".", "..") -> (\'.\',)': _LISTDIR,
    'compare/grader/results/summary.py::<module>@15: {"load": "cannot be loaded", "forbidden":'
    ' "imports a forbidden module", "raised": "raises", "contract": "breaks the cont -> {\'load\':'
    " 'cannot be loaded', 'forbidden': 'imports a forbidden module', 'raised': 'raises', 'channel':"
    ' "writes to the gr':
        "'breaks the contract' is also the label diagnosis_of gives an error kind missing from the table",
    "compare/grader/results/summary.py::write_summary@72: False -> True":
        "allow_nan only matters for a NaN or an infinity, and every number of the summary is finite: counts, and "
        "scores that are sums of points an assignment checked finite (read back from rows written with %.4g)",
    'compare/grader/results/summary.py::plot_summary@84: matplotlib.use("Agg") -> pass':
        "the figure is only saved, never shown: whatever backend pyplot picks (Agg where there is no display, "
        "MPLBACKEND in the tests) writes the same PNG through savefig",
    "compare/grader/results/summary.py::plot_summary@91: 0.0 -> 1.0":
        "the default is used only when no row has a max_score; every row with a score has one (Graded.row sets "
        "both or neither), so then there are no scores and the panel says 'no scores' whatever the default",
    "compare/grader/submissions/classfolder.py::scan@93: False -> True":
        "is_dir/is_file are asked only of an entry that is not a link (not is_link and ...): following links "
        "changes nothing for it",
    "compare/grader/submissions/classfolder.py::scan@94: False -> True":
        "is_dir/is_file are asked only of an entry that is not a link (not is_link and ...): following links "
        "changes nothing for it",
    "compare/grader/submissions/classfolder.py::scan@99: _same(path, exclude) -> _same(exclude, path)":
        "os.path.samefile is symmetric",
    "compare/grader/submissions/classfolder.py::_same@138: os.path.samefile(a, b) ->"
    " os.path.samefile(b, a)":
        _SYMMETRIC,
    'compare/grader/submissions/classfolder.py::_file_type@148: ((stat.S_ISFIFO, "a FIFO"),'
    ' (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a s'
    " -> ((stat.S_ISFIFO, 'a FIFO'), (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block"
    " device'), (stat.S_ISSOCK, 'a s":
        _LINK_ROW,
    'compare/grader/submissions/classfolder.py::_file_type@149: (stat.S_ISLNK, "a link") -> (\'a link\',)':
        _LINK_ROW,
    'compare/grader/submissions/classfolder.py::_file_type@149: (stat.S_ISLNK, "a link") ->'
    " (stat.S_ISLNK,)":
        _LINK_ROW,
    "compare/grader/submissions/classfolder.py::prepare@183: student.submission = None -> pass":
        _SET_LAST,
    "compare/grade.py::_merge@94: _same_folder(output.path, p) -> _same_folder(p, output.path)":
        _SYMMETRIC,
    'compare/grader/classrun.py::ClassRun@70: False -> True':
        _PASSED,
    "compare/grader/submissions/classfolder.py::walk@244: False -> True":
        _NOT_A_LINK,
    'compare/grader/classrun.py::grade@115: folder, out = Path(folder), Path(out) -> pass':
        _STR_OR_PATH,
    'compare/grader/classrun.py::grade@117: if claimed is None: output.claim() -> if True: output.claim()':
        _CLAIMED_TWICE,
    'compare/grader/classrun.py::grade@126: battery.prepare(assignment, seed) -> pass':
        _WARM_UP,
    "compare/grade.py::_same_folder@113: os.path.samefile(a, b) -> os.path.samefile(b, a)":
        _SYMMETRIC,
    'compare/grader/classrun.py::grade.one@148: False -> True':
        _STRICT_ALREADY,
    'compare/grader/classrun.py::grade@174: pool.shutdown(wait=stopped is None) -> pass':
        _SECOND_SHUTDOWN,
    'compare/grader/classrun.py::grade@174: stopped is None -> stopped is not None':
        "a run that was not stopped ends when as_completed has seen every future: the pool's threads are idle, "
        "so waiting for them or not is the same; after a stop the students being graded have returned in the "
        "wait just before (their workers killed) and the cancelled ones never start: nothing is left to wait for",
    'compare/grader/classrun.py::grade@169: pool.shutdown(wait=False, cancel_futures=True) -> pass':
        _QUEUED_AFTER_STOP,
    'compare/grader/classrun.py::grade@169: True -> False':
        _QUEUED_AFTER_STOP,
    'compare/grader/classrun.py::grade@173: 30 -> 31':
        _NEVER_REACHED,
    'compare/grader/classrun.py::grade@173: 30 -> 29':
        _NEVER_REACHED,
    'compare/grader/classrun.py::grade@179: 1 -> 2':
        _FIRST_OF,
    'compare/grade.py::_main@151: True -> False':
        _STDERR,
    "compare/grade.py::_main@153: True -> False":
        _STDERR,
    "compare/grader/course/points.py::scored_case_names@49: 0 -> 1":
        _ANY_SEED,
    "compare/grader/course/points.py::score@75: 0 -> 1":
        _ANY_SEED,
})

# --- issue 20: compare/grader/course/{conventions,words,cases}.py ---
_TOLERANCE_FLOOR = ("the floor of close()'s tolerance matters only where |value| < 1e-12, i.e. 1/K for a batch of "
                    "more than 10^12 examples: the values named are K and m (≥ 1), 1/K, 1/m, 2, 1/2 and -1")
EQUIVALENT.update({
    "compare/grader/course/words.py::factor_name.close@151: abs(c - value) <= 1e-6 * max(abs(value), 1e-12) -> "
    "abs(c - value) < 1e-06 * max(abs(value), 1e-12)":
        "|c − value| never equals 1e-6·|value| exactly: the difference is a multiple of c's ulp and the tolerance, "
        "rounded, is not (no float c hits it for value = 2, 1/2, -1, K or 1/K with K ≤ 4096, searched)",
    "compare/grader/course/words.py::factor_name.close@151: 1e-12 -> 1e-11": _TOLERANCE_FLOOR,
    "compare/grader/course/words.py::factor_name.close@151: 1e-12 -> 1e-13": _TOLERANCE_FLOOR,
})
_TRIES = ("the most draws a case makes before it keeps the last: the loop stops at the first draw that qualifies, "
          "within 35 draws for every activation and seed tried (zero-preactivation, seeds 0-299) and at the first "
          "for mixed-scales (seeds 0-2999): 999 or 1001 is never reached")
_SIGN = "large_logits is called with sign +1 or -1 only (the battery's two cases): sign >= 0 and sign > 0 agree on both"
_RELU_SHIFT = ("_FUNCTIONS is read by _unit_shift alone, as act(4) - act(-4): 4 for max(x, 0), max(0, x) and "
               "min(x, 0) alike")
_UNIFORM = ("a uniform float64 draw equal to 0.3 exactly (probability about 2^-53 an entry) decides nothing in "
            "practice: the seed-0 cases are the same (the golden table), and the test is only the sparsity mask")
EQUIVALENT.update({
    "compare/grader/course/cases.py::zero_preactivation@197: 1000 -> 1001": _TRIES,
    "compare/grader/course/cases.py::zero_preactivation@197: 1000 -> 999": _TRIES,
    "compare/grader/course/cases.py::mixed_scales@252: 1000 -> 1001": _TRIES,
    "compare/grader/course/cases.py::mixed_scales@252: 1000 -> 999": _TRIES,
    "compare/grader/course/cases.py::large_logits@216: sign > 0 -> sign >= 0": _SIGN,
    "compare/grader/course/cases.py::large_logits@220: sign > 0 -> sign >= 0": _SIGN,
    "compare/grader/course/cases.py::<module>@225: np.maximum(x, 0.0) -> np.minimum(x, 0.0)": _RELU_SHIFT,
    "compare/grader/course/cases.py::<module>@225: np.maximum(x, 0.0) -> np.maximum(0.0, x)": _RELU_SHIFT,
    "compare/grader/course/cases.py::mixed_scales@260: X @ W1.T + b1 -> X @ W1.T - b1":
        "±b1 moves a hidden pre-activation by at most 0.5: the draw kept differs only where |X W1ᵀ + b1| and "
        "|X W1ᵀ - b1| fall on two sides of 4.5, which no first draw of seeds 0-2999 (any activation) comes near, "
        "and a draw 10 times too wide is refused either way (test_cases_units)",
    "compare/grader/course/cases.py::mixed_scales@261: np.abs(pre).max() < 4.5 -> np.abs(pre).max() <= 4.5":
        "a hidden pre-activation of exactly 4.5 (a sum of continuous draws) is never drawn",
    "compare/grader/course/cases.py::mnist_width@273: rng.uniform(size=(K, 784)) < 0.3 -> "
    "rng.uniform(size=(K, 784)) <= 0.3": _UNIFORM,
    "compare/grader/course/cases.py::large_batch@284: rng.uniform(size=(K, 784)) < 0.3 -> "
    "rng.uniform(size=(K, 784)) <= 0.3": _UNIFORM,
})


# --- issue 20: compare/cli.py, compare/validate.py, compare/grade.py, compare/grader/validation.py,
# compare/grader/autograder.py (helper cmds) ---
_C_HANDLER = ("signal.getsignal() gives None only for a handler installed by C code in this process (an "
              "application embedding Python); the commands' processes have none, so None is never met here")
_CWD_ENTRY = ("Path('').resolve() and Path('.').resolve() are the current folder, which the test beside this one "
              "drops anyway (the folder is read once, before the list is filtered)")
EQUIVALENT.update({
    "compare/cli.py::_raise_interrupted@148: if signum == signal.SIGINT: raise KeyboardInterrupt -> pass":
        "Interrupted(SIGINT) is a KeyboardInterrupt whose signum is SIGINT: signal_number, signal_name, "
        "interrupted_line and interrupt_status give exactly what a bare KeyboardInterrupt gives (SIGINT, "
        "'interrupted', 130); run catches both alike, so nothing prints its class",
    "compare/cli.py::_raise_interrupted@149: raise KeyboardInterrupt -> pass":
        "the line after it then raises Interrupted(SIGINT): the same as deleting the whole check (above)",
    "compare/cli.py::stop_signals_interrupt@164: (signal.SIG_IGN, None) -> (signal.SIG_IGN,)": _C_HANDLER,
    "compare/cli.py::_set_handlers@236: if handler is not None and signal.getsignal(number) is not handler:"
    " signal.signal(number, handler) -> if True: signal.signal(number, handler)":
        "setting the handler already in place changes nothing; " + _C_HANDLER,
    "compare/cli.py::_set_handlers@236: handler is not None and signal.getsignal(number) is not handler ->"
    " handler is not None or signal.getsignal(number) is not handler":
        "setting the handler already in place changes nothing; " + _C_HANDLER,
    "compare/grader/validation.py::_run@181: True -> False":
        "daemon only matters for a thread still alive when the interpreter exits: the references thread is "
        "always joined in _run's finally (after stop is set), before the judging returns",
    'compare/grader/validation.py::own_modules_first@237: ("", ".") -> (\'.\',)': _CWD_ENTRY,
    'compare/grader/validation.py::own_modules_first@237: ("", ".") -> (\'\',)': _CWD_ENTRY,
    "compare/grader/validation.py::judge@157: if runner is not None: report.isolation = runner.level if"
    " isinstance(runner, WorkerRunner): report.notes = [clean_text(n -> if True: report.isolation ="
    " runner.level if isinstance(runner, WorkerRunner): report.notes = [clean_text(note, 300) for ":
        "this finally belongs to the try entered only after _runner returned a runner (a _runner that raises "
        "skips it), and a retry replaces the runner only when it is not None: runner is never None there",
    "compare/validate.py::_main@126: False -> True":
        "the report's to_dict() is json_safe already (NaN and infinities made strings): allow_nan has nothing "
        "to refuse",
})

# --- issue 20: compare/grader/submissions/{notebook,notebook_statements}.py, compare/grader/sandbox/{stubs,syntax,errors,sources}.py ---
_PASS_BODY = "the function's body is `pass`: returning before it returns None the same"
_READ_WHOLE = ("the cut keeps the first 8 * limit characters: a text no longer than that is cut to itself, so "
               "cutting more often (or from a lower length) changes nothing")
_WHITESPACE = ("U+2028/U+2029 are whitespace to str.split: kept as characters, the split and join that follow turn "
               "them into one blank all the same")
_NO_OVERFLOW = ("compile() and ast.parse raise OverflowError only for counts past a C int (lines, columns, constants), far beyond "
                "the 8 MiB a source may have: no file it is given can raise it")
_PARSED_TREE = ("the tree came from ast.parse, which already refused what makes compile() raise ValueError (null "
                "bytes, surrogates): compiling it raises SyntaxError, RecursionError or nothing")
_QUALIFIED_DEPTH = ("where the walk up an attribute chain stops (some 60 levels): every name SAFE_CALLS and "
                    "SEED_CALLS list has at most 4 parts, so a name cut sooner or later is never listed either way "
                    "('' or a long unlisted name); only an unbounded walk (a crash) would show")
_WHOLE_LINES = ("a compound statement at a cell's top level starts its first line at column 0 (a decorator's "
                "too) and ends its last (its end takes the simple statements after the colon, a trailing ';' "
                "included; only a comment may follow): cutting it at its columns keeps every character")
_NO_MEMORY = ("MemoryError from compiling a tree ast.parse built: parsing it took more memory than compiling does, "
              "so a tree that parsed compiles in memory; no test can make it fail without faking compile")
EQUIVALENT.update({
    "compare/grader/sandbox/errors.py::clean_text@32: if not isinstance(text, str): text = str(text) -> "
    "if True: text = str(text)": "str() of a str is an equal str",
    "compare/grader/sandbox/errors.py::clean_text@34: if len(text) > 8 * limit: text = text[: 8 * limit] -> "
    "if True: text = text[:8 * limit]": _READ_WHOLE,
    "compare/grader/sandbox/errors.py::clean_text@34: len(text) > 8 * limit -> len(text) >= 8 * limit": _READ_WHOLE,
    "compare/grader/sandbox/errors.py::clean_text@34: 8 * limit -> 8 / limit": _READ_WHOLE,
    "compare/grader/sandbox/errors.py::clean_text@34: 8 -> 7": _READ_WHOLE,
    "compare/grader/sandbox/errors.py::clean_text@39: (\"Cc\", \"Zl\", \"Zp\") -> ('Cc', 'Zp')": _WHITESPACE,
    "compare/grader/sandbox/errors.py::clean_text@39: (\"Cc\", \"Zl\", \"Zp\") -> ('Cc', 'Zl')": _WHITESPACE,
    "compare/grader/sandbox/stubs.py::Stub.__setattr__@53: def __setattr__(self, attr: str, value) -> None: pass -> "
    "def __setattr__(self, attr: str, value) -> None: return pass": _PASS_BODY,
    "compare/grader/sandbox/stubs.py::Stub.__setitem__@59: def __setitem__(self, key, value) -> None: pass -> "
    "def __setitem__(self, key, value) -> None: return pass": _PASS_BODY,
    "compare/grader/sandbox/stubs.py::_StubLoader.exec_module@144: def exec_module(self, module) -> None: pass -> "
    "def exec_module(self, module) -> None: return pass": _PASS_BODY,
    "compare/grader/submissions/notebook.py::_language@171: if not isinstance(metadata, dict): return \"\" -> "
    "if False: return ''":
        "nbformat.convert refuses a notebook whose metadata is missing or not a dict (it pops from it): "
        "_language is only ever given a dict",
    "compare/grader/submissions/notebook.py::_extract_cell@193: if magics: tree, error = _parse(\"\\n\".join(stripped), "
    "number) if tree is not None: for line_no in magics: state.note(numb -> if True: tree, error = "
    "_parse('\\n'.join(stripped), number) if tree is not None: for line_no in magics: state.note(number":
        "without IPython lines the text retried is the text that failed: it fails again with the same error",
    "compare/grader/submissions/notebook_statements.py::Extracted@69: False -> True":
        "the default is never used: the one Extracted ever made (_State.result) passes star_import",
    "compare/grader/submissions/notebook_statements.py::_State.note_parse_error@144: True -> False":
        "a cell reaches note_parse_error only when it failed to parse with its IPython lines set aside too (the "
        "rules parse_cell applies), so names_in scans it line by line either way; a .py read as one cell "
        "(no IPython) with a syntax error is never graded on its definitions, its problems' names are not read",
    "compare/grader/submissions/notebook_statements.py::_State._bind@290: elif isinstance(stmt, ast.Try): pass # "
    "bound by _keeps_try while judging it elif isinstance(stmt, ast.AnnAssign) and stm -> if False: pass elif "
    "isinstance(stmt, ast.AnnAssign) and stmt.value is None: pass elif isinstance(stmt, (ast.Assign, ast.":
        "a try statement matches none of the branches after its own: skipping that `pass` binds nothing either way",
    "compare/grader/submissions/notebook_statements.py::_State._bind@294: (ast.Assign, ast.AnnAssign, "
    "ast.AugAssign) -> (ast.Assign, ast.AnnAssign)":
        "an augmented assignment is kept only to a name already a kept constant: binding it again adds what is "
        "there and removes what is not (a constant is never a definition nor has an origin)",
    "compare/grader/submissions/notebook_statements.py::_State._qualified@332: 0 -> 1": _QUALIFIED_DEPTH,
    "compare/grader/submissions/notebook_statements.py::_State._qualified@340: depth < MAX_DEPTH -> "
    "depth <= MAX_DEPTH": _QUALIFIED_DEPTH,
    "compare/grader/submissions/notebook_statements.py::_State._qualified@341: 1 -> 2": _QUALIFIED_DEPTH,
    "compare/grader/sandbox/sources.py::_parse@243: (SyntaxError, ValueError, RecursionError, MemoryError, "
    "OverflowError) -> (SyntaxError, ValueError, RecursionError, MemoryError)": _NO_OVERFLOW,
    "compare/grader/submissions/notebook_statements.py::_compile_error@397: True -> False": _FUTURE.replace(
        "sources.py", "notebook_statements.py"),
    "compare/grader/submissions/notebook_statements.py::_compile_error@400: (RecursionError, MemoryError) -> "
    "(RecursionError,)": _NO_MEMORY,
    "compare/grader/submissions/notebook_statements.py::_segment@419: if hasattr(stmt, \"body\") or hasattr(stmt, "
    "\"cases\") or not text: return text -> if False: return text": _WHOLE_LINES,
    "compare/grader/submissions/notebook_statements.py::_segment@419: hasattr(stmt, \"body\") or hasattr(stmt, "
    "\"cases\") or not text -> hasattr(stmt, 'body') and hasattr(stmt, 'cases') and (not text)": _WHOLE_LINES,
    "compare/grader/sandbox/syntax.py::_compile_problem@55: (SyntaxError, ValueError, RecursionError, MemoryError, "
    "OverflowError) -> (SyntaxError, ValueError, RecursionError, MemoryError)": _NO_OVERFLOW,
    "compare/grader/sandbox/syntax.py::_compile_error@64: (RecursionError, MemoryError) -> (RecursionError,)":
        _NO_MEMORY,
    "compare/grader/sandbox/syntax.py::_compile_error@68: (SyntaxError, ValueError, OverflowError) -> "
    "(SyntaxError, OverflowError)": _PARSED_TREE,
    "compare/grader/sandbox/syntax.py::_compile_error@68: (SyntaxError, ValueError, OverflowError) -> "
    "(SyntaxError, ValueError)": _NO_OVERFLOW,
})


# --- issue 20: compare/grader/workers/isolation.py ---
_ISO = "compare/grader/workers/isolation.py::"
_OPENED_AFTER = ("the folder is opened right after and its mode set to 0700 through the descriptor (fchmod): any "
                 "mode that lets its owner read it opens it the same way, and the final mode is 0700 either way")
_OTHERS_X = ("search permission for others on a folder being emptied, inside the grader's private folder, for "
             "the moment until it is removed: no one can list it, and it is gone right after")
_LINK_REFUSED = ("open(O_DIRECTORY | O_NOFOLLOW) refuses a link with ELOOP and anything but a folder with ENOTDIR: "
                 "a PermissionError comes only from a folder, so the check that it is one never says no")
_NEVER_AN_ANCESTOR = ("`made` only tells bind() which parents of a mount point to make first; {} is never the "
                      "parent of a later mount point (those are the installation, the interpreter's folder, "
                      "/opt/site/NAME and /opt/grader), and bwrap's --dir accepts a folder that is there already")
_USR_BOUND = ("/usr is bound read-only whole before any bind(): binding a folder under it onto itself again (or "
              "making its parents, which are there) changes nothing the sandbox sees")
_WAIT_DEFAULT = "wait_gone's default wait: every caller (the tests) passes its own timeout"
_WAIT_PACE = ("how often and how long wait_gone looks (it is for the tests): True as soon as the worker is reaped, "
              "False once the wait is over, whatever the pace")
EQUIVALENT.update({
    "compare/grader/workers/removal.py::remove_folder@44: os.path.samestat(os.fstat(here), identity) -> os.path.samestat(identity, os.fstat(here))":
        "samestat compares two stat results' device and inode: symmetric",
    "compare/grader/workers/removal.py::_open_folder@61: if not stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode): "
    "return None -> if False: return None": _LINK_REFUSED,
    "compare/grader/workers/removal.py::_open_folder@61: False -> True": _LINK_REFUSED + " (and a folder's stat is the same followed or not)",
    "compare/grader/workers/removal.py::_open_folder@63: 0o700 -> 449": _OPENED_AFTER,
    "compare/grader/workers/removal.py::_open_folder@63: 0o700 -> 447": _OPENED_AFTER,
    "compare/grader/workers/removal.py::_open_folder@68: 0o700 -> 449": _OTHERS_X,
    _ISO + "_reap@285: 2.0 -> 0.2": _REAP_PACE,
    _ISO + "_reap@293: 0 -> 1":
        "waitpid's status instead of its pid: a child killed by SIGKILL has status 9 (true, as its pid), a live "
        "one (0, 0); a child that exited 0 is found gone on the next look (ChildProcessError, no parent) and "
        "dropped then: the same processes reaped, one look later",
    _ISO + "_reap@299: if pending: time.sleep(0.01) -> if True: time.sleep(0.01)": _REAP_PACE,
    _ISO + "_reap@300: 0.01 -> 0.001": _REAP_PACE,
    _ISO + "_signal_group@312: contextlib.suppress(ProcessLookupError, PermissionError) -> "
    "contextlib.suppress(PermissionError, ProcessLookupError)": "suppress takes a set of exception types: order is no matter",
    _ISO + '_kill@317: contextlib.suppress(ProcessLookupError, PermissionError) -> contextlib.suppress(PermissionError, ProcessLookupError)':
        "suppress takes a set of exception types: order is no matter",
    _ISO + '<module>@354: 1 -> 2':
        ("the first tag drawn is one lower: tags stay distinct and below the grader's own; they differ only for a "
        "grader whose own hard RLIMIT_RTTIME is 3 µs, where the second count leaves no tag (the limit is unlimited "
        "by default and only lowered by hand)"),
    _ISO + '_bubblewrap_argv@401: {"/usr", "/opt", "/opt/site", "/opt/grader"} -> {\'/opt\', \'/opt/site\', \'/opt/grader\'}':
        _NEVER_AN_ANCESTOR.format("/usr"),
    _ISO + '_bubblewrap_argv@401: {"/usr", "/opt", "/opt/site", "/opt/grader"} -> {\'/usr\', \'/opt\', \'/opt/site\'}':
        _NEVER_AN_ANCESTOR.format("/opt/grader"),
    _ISO + '_bubblewrap_argv@409: made.add(link) -> pass':
        _NEVER_AN_ANCESTOR.format("/bin, /lib and the other system folders"),
    _ISO + '_bubblewrap_argv.bind@420: if any(dest == m or dest.startswith(m.rstrip("/") + "/") for m in ("/usr",)): argv.extend(["--ro-bind", source, dest]) r -> if False: argv.extend([\'--ro-bind\', source, dest]) return':
        _USR_BOUND,
    _ISO + '_bubblewrap_argv.bind@420: any(dest == m or dest.startswith(m.rstrip("/") + "/") for m in ("/usr",)) -> all((dest == m or dest.startswith(m.rstrip(\'/\') + \'/\') for m in (\'/usr\',)))':
        "any() and all() of a one-element tuple are the same test",
    _ISO + '_bubblewrap_argv.bind@420: dest == m or dest.startswith(m.rstrip("/") + "/") -> dest == m and dest.startswith(m.rstrip(\'/\') + \'/\')':
        _USR_BOUND,
    _ISO + '_bubblewrap_argv.bind@421: argv.extend(["--ro-bind", source, dest]) -> pass':
        _USR_BOUND,
    _ISO + '_bubblewrap_argv.bind@428: made.add(dest) -> pass':
        _NEVER_AN_ANCESTOR.format("a folder bound (the installation, the interpreter's folder, a package, the grader)"),
    _ISO + 'start_worker@512: True -> False':
        ("the folder was made by mkdtemp a moment before and holds only the copy the grader made: no student code "
        "ran, so removing it raises nothing for ignore_errors to ignore"),
    _ISO + 'wait_gone@522: 5.0 -> 50.0':
        _WAIT_DEFAULT,
    _ISO + 'wait_gone@522: 5.0 -> 0.5':
        _WAIT_DEFAULT,
    _ISO + 'wait_gone@525: worker.process.poll() is None and time.monotonic() < end -> worker.process.poll() is None or time.monotonic() < end':
        _WAIT_PACE + ' (with `or`, it returns the same answer once its whole wait is over)',
    _ISO + 'wait_gone@525: time.monotonic() < end -> time.monotonic() <= end':
        _WAIT_PACE,
    _ISO + 'wait_gone@526: time.sleep(0.01) -> pass':
        _WAIT_PACE,
    _ISO + 'wait_gone@526: 0.01 -> 0.1':
        _WAIT_PACE,
    _ISO + 'wait_gone@526: 0.01 -> 0.001':
        _WAIT_PACE,
})
# --- issue 20: compare/grader/judging/{reference,records,outcome,battery,harmless}.py, compare/grader/results/{report,gradescope}.py ---
_FLOAT64_ALREADY = ("reference.TorchMLP's dtype defaults to torch.float64, the dtype asked for here: the same "
                    "network either way")
_CASE_DTYPES = ("every case's {} is {} already (cases.py builds them so, and test_reference_cache checks the "
                "battery's): np.array of it makes the same array with or without the dtype")
_TYPE_ONLY = ("an import needed only by annotations (postponed: `from __future__ import annotations`) done at run "
              "time as well: compare.grader.{} imports nothing that imports this module back, so it loads the same")
_TYPE_CHECKING_FALSE = "typing.TYPE_CHECKING is False at run time: `if False` is the same code"
_BATTERIES_KEPT = ("how many (activation, seed) batteries the lru_cache keeps: one evicted is built again, the same "
                   "cases (seeded), and their references are found again by content (REFERENCES)")
_SCALAR_SYMMETRIC = ("compare_arrays of two scalars is symmetric: the error is judged on max(|a|, |e|, atol/rtol) (the "
                     "scale floor, a fraction of |e|, never exceeds |e|), and only .passed is read")
_NO_EPSILON_FAST = ("a fast path only: _log_epsilon is asked only about a case whose loss row failed, so the data "
                    "term the student's loss implies (target) is off the NLL by more than the tolerance; a target "
                    "that is not finite or not below the NLL then fails the closing check on the ε found (the data "
                    "term is at most the NLL for every ε ≥ 0), and None is returned all the same")
_BISECTION = ("the bisection on log10 ε has converged to the float's last digit long before: 80 halvings of 18 (or "
              "198) decades leave 1e-22 of a decade, under float64's resolution, so one halving more or less, or a "
              "wider start, lands on the same ε")
_TOO_LARGE_FAST = ("a fast path only: an answer needing an ε over the largest (0.01) would otherwise be bisected to "
                   "the bound itself, and the closing check (the data term at the ε found is the student's, within "
                   "the tolerance) refuses it all the same; a looser bound (9⁻² = 0.0123, or 10·high, whose ε is "
                   "negative and its data term NaN) only moves which of the two refuses it")
_ZERO_CASE_TWO_LAYERS = ("only the zero-preactivation case is read under rect'(0) = 1, and it has two layers "
                         "(4-6-3): its hidden layers, [:-1], are [:1]")
_INFINITY_SIGN = ("only ±inf reach this test (NaN was taken just before): inf is > 0, >= 0 and > 1, and -inf is none "
                  "of them")
EQUIVALENT.update({
    "compare/grader/judging/reference.py::reference_model@36: TorchMLP(case.sizes, activation or case.activation, "
    "dtype=torch.float64) -> TorchMLP(case.sizes, activation or case.activation)": _FLOAT64_ALREADY,
    "compare/grader/judging/reference.py::_tape@54: np.array(case.X, dtype=np.float64) -> np.array(case.X)":
        _CASE_DTYPES.format("X", "float64"),
    "compare/grader/judging/reference.py::_tape@61: np.array(case.y, dtype=np.int64) -> np.array(case.y)":
        _CASE_DTYPES.format("y", "int64"),
    "compare/grader/judging/records.py::<module>@20: if TYPE_CHECKING: from compare.grader.judging.outcome import "
    "CaseOutcome -> if True: from compare.grader.judging.outcome import CaseOutcome": _TYPE_ONLY.format("judging.outcome"),
    "compare/grader/judging/records.py::<module>@20: if TYPE_CHECKING: from compare.grader.judging.outcome import "
    "CaseOutcome -> if False: from compare.grader.judging.outcome import CaseOutcome": _TYPE_CHECKING_FALSE,
    "compare/grader/judging/records.py::json_safe@166: obj > 0 -> obj >= 0": _INFINITY_SIGN,
    "compare/grader/judging/records.py::json_safe@166: 0 -> 1": _INFINITY_SIGN,
    "compare/grader/results/report.py::<module>@12: if TYPE_CHECKING: from compare.grader.diagnosis.findings import "
    "Finding -> if True: from compare.grader.diagnosis.findings import Finding": _TYPE_ONLY.format("diagnosis.findings"),
    "compare/grader/results/report.py::<module>@12: if TYPE_CHECKING: from compare.grader.diagnosis.findings import "
    "Finding -> if False: from compare.grader.diagnosis.findings import Finding": _TYPE_CHECKING_FALSE,
    'compare/grader/results/report.py::format_markdown@110: ["", f"{passed} of {len(report.cases)} cases agree with '
    'the reference " f"(float64, rtol {TOL.rtol:g}).", ""] -> [\'\', f\'{passed} of {len(report.cases)} cases agree '
    "with the reference (float64, rtol {TOL.rtol:g}).']":
        "the page's last line: the blank after it is cut by the rstrip() before the final newline either way",
    "compare/grader/results/gradescope.py::<module>@40#3: 0 -> 1":
        "a zip member's time is stored in DOS format, to 2 seconds: 00:00:01 is written as 00:00:00, the same bytes",
    "compare/grader/results/gradescope.py::_add@198: False -> True":
        "build_bundle, its one caller, passes `executable` for every member: the default is never used",
    "compare/grader/results/gradescope.py::build_bundle@229: if os.path.exists(tmp): os.unlink(tmp) -> if True: "
    "os.unlink(tmp)":
        "mkstemp created tmp before the try, and only the os.replace that ends it removes it: whatever fails in "
        "between, tmp is there to unlink",
    "compare/grader/judging/battery.py::prepare@51: 0 -> 1":
        "both callers (validation._run, classrun.grade) pass the run's seed: the default is never used",
    "compare/grader/judging/battery.py::battery@35: 64 -> 65": _BATTERIES_KEPT,
    "compare/grader/judging/battery.py::battery@35: 64 -> 63": _BATTERIES_KEPT,
    "compare/grader/judging/harmless.py::_agrees@69: compare_arrays(loss, ref_loss, TOL) -> "
    "compare_arrays(ref_loss, loss, TOL)": _SCALAR_SYMMETRIC,
    "compare/grader/judging/harmless.py::_log_epsilon@84: if not np.isfinite(target) or not target < nll: return "
    "None -> if False: return None": _NO_EPSILON_FAST,
    "compare/grader/judging/harmless.py::_log_epsilon@84: not np.isfinite(target) or not target < nll -> "
    "not np.isfinite(target) and (not target < nll)": _NO_EPSILON_FAST,
    "compare/grader/judging/harmless.py::_log_epsilon@84: target < nll -> target <= nll": _NO_EPSILON_FAST,
    "compare/grader/judging/harmless.py::_log_epsilon@87: logits.max(axis=1, keepdims=True) -> "
    "logits.min(axis=1, keepdims=True)":
        "softmax is the same whatever is subtracted from a row; it only guards exp against overflow, and no case's "
        "row of logits spans more than 7 (measured over every activation's battery): exp(7) overflows nothing",
    "compare/grader/judging/harmless.py::_log_epsilon@93: 20.0 -> 200.0": _BISECTION,
    "compare/grader/judging/harmless.py::_log_epsilon@96: 80 -> 81": _BISECTION,
    "compare/grader/judging/harmless.py::_log_epsilon@96: 80 -> 79": _BISECTION,
    "compare/grader/judging/harmless.py::_log_epsilon@94: if data_term(10 ** high) > target: return None -> "
    "if False: return None": _TOO_LARGE_FAST,
    "compare/grader/judging/harmless.py::_log_epsilon@94: 10 ** high -> 10 * high": _TOO_LARGE_FAST,
    "compare/grader/judging/harmless.py::_log_epsilon@94: 10 -> 9": _TOO_LARGE_FAST,
    "compare/grader/judging/harmless.py::_log_epsilon@98: data_term(10 ** middle) > target -> "
    "data_term(10 ** middle) >= target": _BISECTION,
    "compare/grader/judging/harmless.py::_log_epsilon@100: if not compare_arrays(data_term(eps), target, TOL).passed: "
    "return None -> if False: return None":
        "a safety net only: target is below the NLL (line 84) and above the data term at the largest ε (line 94), "
        "and the data term falls continuously from the NLL as ε grows, so the bisection ends on an ε whose data "
        "term is the target to the float's last digits: the check never refuses one",
    "compare/grader/judging/harmless.py::_log_epsilon@100: compare_arrays(data_term(eps), target, TOL) -> "
    "compare_arrays(target, data_term(eps), TOL)": _SCALAR_SYMMETRIC,
    "compare/grader/judging/harmless.py::_relu_at_zero_reference@114: np.array(case.X, dtype=np.float64) -> "
    "np.array(case.X)": _CASE_DTYPES.format("X", "float64"),
    "compare/grader/judging/harmless.py::_relu_at_zero_reference@115: -1 -> 1": _ZERO_CASE_TWO_LAYERS,
    'compare/grader/judging/battery.py::_readings@129: if a.penalty != "none": def without_penalty(case, loss, '
    'grads): loss, grads = V.read_back(a, case, loss, H.as_assignment -> if True: def without_penalty(case, loss, '
    'grads): loss, grads = V.read_back(a, case, loss, H.as_assignment_shapes(a, case':
        "under penalty = 'none' every canonical case has λ = 0, so the penalty's gradient added is 0: the reading is "
        "the answer as it is, which disagrees on the failing cases it is tried on",
    "compare/grader/judging/battery.py::_explain@146: any(c.answer is None for c in unexplained) -> "
    "all((c.answer is None for c in unexplained))":
        "run() hands every case its answer, so `c.answer is None` is never true, and the list is not empty here "
        "(the failing cases are among the unexplained ones): any() and all() of it are both False",
    "compare/grader/judging/harmless.py::_relu_at_zero_reference@118: np.array(case.y, dtype=np.int64) -> "
    "np.array(case.y)": _CASE_DTYPES.format("y", "int64"),
    "compare/grader/judging/harmless.py::_relu_at_zero_reference@119: F.cross_entropy(model.layers[-1](h), y) + "
    "model.penalty(case.lambdas) -> F.cross_entropy(model.layers[-1](h), y) - model.penalty(case.lambdas)":
        "only the zero-preactivation case is read under rect'(0) = 1, and its λs are all 0: its penalty is 0, "
        "added or subtracted",
    "compare/grader/judging/harmless.py::_relu_at_zero_reference@119: -1 -> 1": _ZERO_CASE_TWO_LAYERS,
    "compare/grader/judging/battery.py::_explain@153: compare_arrays(loss, ref_loss, TOL) -> "
    "compare_arrays(ref_loss, loss, TOL)": _SCALAR_SYMMETRIC,
    "compare/grader/judging/battery.py::_agrees@174: compare_arrays(loss, ref_loss, TOL) -> "
    "compare_arrays(ref_loss, loss, TOL)": _SCALAR_SYMMETRIC,
    "compare/grader/judging/battery.py::run@258: 0 -> 1":
        "validation._run and classrun pass the run's seed to battery.run: the default is never used",
    "compare/grader/judging/harmless.py::judge@147: not c.passed and not c.harmless -> not c.passed or not c.harmless":
        "the cases this adds agree with the reference as they are, and none of the three checks can explain one: "
        "the ε is sought only where the loss row fails, rect'(0) = 1 changes the gradients of the exact-zeros case "
        "(its purpose), and an L2 factor of 0.5 or 2 changes every regularised case's W gradients",
    "compare/grader/judging/harmless.py::judge@148: if not failing: return -> if False: return":
        "a fast path: with no failing case, each of the three checks is handed an empty list and marks nothing",
    "compare/grader/judging/battery.py::run@282: runner.make(key, call, args, a.method) -> "
    "runner.make(call, key, args, a.method)": "key is call (one network per call, two lines above): the same two strings",
    "compare/grader/judging/harmless.py::_relu_at_zero@168: C.ZERO_PREACT not in result.case.tags or "
    "result.case.activation != \"relu\" -> C.ZERO_PREACT not in result.case.tags and result.case.activation != 'relu'":
        "only relu's battery has an exact-zeros case, so this only adds relu cases without exact zeros, where the "
        "rect'(0) = 1 reference is the reference itself, which the failing case already disagrees with",
})


@dataclass
class Mutant:
    index: int  # position in the walk of the syntax tree
    kind: str
    line: int
    function: str
    before: str
    after: str
    number: int = 0  # 1, 2, ... in the order listed
    status: str = ""  # killed, survived, timeout, equivalent (survived, argued)
    seconds: float = 0.0
    detail: str = ""
    twin: int = 1  # the n-th mutant of this line with this same text (two `1 -> 2` on one line)

    @property
    def key(self) -> str:
        """Where (function and line) and what changed. The line is part of it: the same text on two
        lines is two mutants, and arguing one of them equivalent must not excuse the other; the same
        text twice on one line is ``@line`` then ``@line#2``. An edit above a mutant moves its line:
        ``--stale`` lists the table's keys that match no mutant."""
        twin = f"#{self.twin}" if self.twin > 1 else ""
        return f"{self.function}@{self.line}{twin}: {self.before} -> {self.after}"


def _skipped_nodes(tree) -> set:
    """Nodes never mutated: docstrings, f-strings, annotations, imports, error messages, __all__."""
    skip = set()

    def mark(node):
        for sub in ast.walk(node):
            skip.add(id(sub))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            mark(body[0])  # docstring
        if isinstance(node, ast.JoinedStr | ast.Import | ast.ImportFrom):
            mark(node)
        if isinstance(node, ast.arg) and node.annotation is not None:
            mark(node.annotation)
        if isinstance(node, ast.FunctionDef) and node.returns is not None:
            mark(node.returns)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.Raise) and node.exc is not None:
            mark(node.exc)  # the message; deleting the whole raise is a mutant of its own
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            mark(node)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
            mark(node)
    return skip


def _functions(tree) -> dict:
    """id(node) -> name of the innermost function or class holding it."""
    owner = {}

    def visit(node, name):
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                inner = f"{name}.{child.name}" if name != "<module>" else child.name
            owner[id(child)] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owner


def _candidates(node, parent_field):
    """(kind, function that mutates a fresh copy of ``node`` in place or returns a replacement)."""
    out = []
    if isinstance(node, ast.BinOp | ast.AugAssign):
        for new in BINOP_SWAPS.get(type(node.op), []):
            out.append((f"operator {type(node.op).__name__}->{new.__name__}",
                        lambda n, new=new: setattr(n, "op", new())))
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in COMPARE_SWAPS.get(type(op), []):
                out.append((f"comparison {type(op).__name__}->{new.__name__}",
                            lambda n, i=i, new=new: n.ops.__setitem__(i, new())))
    if isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f"boolean ->{new.__name__}", lambda n, new=new: setattr(n, "op", new())))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
        out.append((f"drop {type(node.op).__name__}", lambda n: n.operand))
    if isinstance(node, ast.Constant) and parent_field != "kind":
        v = node.value
        if isinstance(v, bool):
            out.append(("constant bool", lambda n: setattr(n, "value", not n.value)))
        elif isinstance(v, int):
            out.append(("constant +1", lambda n: setattr(n, "value", n.value + 1)))
            if v not in (0, 1):
                out.append(("constant -1", lambda n: setattr(n, "value", n.value - 1)))
        elif isinstance(v, float):
            if v == 0.0:
                out.append(("constant 0->1", lambda n: setattr(n, "value", 1.0)))
            else:
                out.append(("constant x10", lambda n: setattr(n, "value", n.value * 10)))
                out.append(("constant /10", lambda n: setattr(n, "value", n.value / 10)))
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in NAME_SWAPS:
            new = NAME_SWAPS[name]
            field = "attr" if isinstance(func, ast.Attribute) else "id"
            out.append((f"call {name}->{new}", lambda n, field=field, new=new: setattr(n.func, field, new)))
    if isinstance(node, ast.Call):
        for i, kw in enumerate(node.keywords):
            if kw.arg in ("out", "keepdims", "copy", "dtype", "axis"):
                out.append((f"drop keyword {kw.arg}", lambda n, i=i: n.keywords.pop(i) and None))
    if isinstance(node, ast.Raise | ast.AugAssign | ast.Expr) or (
        isinstance(node, ast.Assign) and not all(isinstance(t, ast.Name) for t in node.targets)
    ):
        out.append(("delete statement", lambda n: ast.Pass()))
    if isinstance(node, ast.If):
        out.append(("condition True", lambda n: setattr(n, "test", ast.Constant(True))))
        if _is_check(node):  # `if bad: raise ...` deleted whole: the check forgotten
            out.append(("delete check", lambda n: ast.Pass()))
        else:
            out.append(("condition False", lambda n: setattr(n, "test", ast.Constant(False))))
    # The bugs of code that checks and limits: an entry of a list left out, arguments swapped,
    # a tail kept as a head, a hook appended instead of put first, a function that returns early.
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and not isinstance(getattr(node, "ctx", None), ast.Store):
        if len(node.elts) >= 2 and not any(isinstance(e, ast.Starred) for e in node.elts) \
                and parent_field != "unpacked":
            for i in range(len(node.elts)):
                out.append((f"drop element {i}", lambda n, i=i: n.elts.pop(i) and None))
    if isinstance(node, ast.Dict) and len(node.keys) >= 2 and None not in node.keys:
        for i in range(len(node.keys)):
            out.append((f"drop entry {i}", lambda n, i=i: (n.keys.pop(i), n.values.pop(i)) and None))
    if isinstance(node, ast.Call) and not any(isinstance(a, ast.Starred) for a in node.args) \
            and _called_name(node) not in NOT_SWAPPED:
        for i in range(len(node.args) - 1):
            out.append((f"swap arguments {i},{i + 1}", lambda n, i=i: n.args.__setitem__(
                slice(i, i + 2), [n.args[i + 1], n.args[i]])))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "insert"
            and len(node.args) == 2 and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0):
        out.append(("insert(0, x)->append(x)", lambda n: ast.Call(
            ast.Attribute(n.func.value, "append", ast.Load()), [n.args[1]], [])))
    if isinstance(node, ast.Slice) and node.step is None and (node.lower is None) != (node.upper is None):
        out.append(("slice tail<->head", _flip_slice))
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        out.append(("return early", _return_early))
    return out


def _called_name(node: ast.Call) -> str | None:
    """'array_equal' for np.array_equal(...), 'max' for max(...)."""
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)


def _is_check(node: ast.If) -> bool:
    return not node.orelse and any(isinstance(stmt, ast.Raise) for stmt in node.body)


def _negated(expr):
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        return expr.operand
    return ast.UnaryOp(ast.USub(), expr)


def _flip_slice(node: ast.Slice):
    """``[-N:]`` (the last N) -> ``[:N]`` (the first N), ``[:N]`` -> ``[-N:]``, ``[a:]`` -> ``[:-a]``."""
    if node.lower is not None:
        node.upper, node.lower = _negated(node.lower), None
    else:
        node.lower, node.upper = _negated(node.upper), None


def _return_early(node):
    """``return`` (None) as the first statement after the docstring: every check below it skipped."""
    first = node.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
        and isinstance(first.value.value, str)
    node.body.insert(1 if docstring else 0, ast.Return(None))


def _walk_with_fields(tree):
    """Every node once, in a fixed order, with the field name it hangs from in its parent."""
    order = []

    def visit(node, field):
        order.append((node, field))
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                unpacking = isinstance(node, ast.Assign) and name == "value" and any(
                    isinstance(t, ast.Tuple | ast.List) for t in node.targets)
                visit(value, "unpacked" if unpacking else name)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        visit(item, name)

    visit(tree, None)
    return order


def _replace(tree, target, replacement):
    """Put ``replacement`` where ``target`` is in ``tree`` (in a field or a list of its parent)."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        value[i] = replacement
                        return
    raise RuntimeError("node not found")


def make_mutants(source: str) -> list[tuple[Mutant, str]]:
    """Every single-change mutant of ``source``: (description, mutated source)."""
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    owners = _functions(tree)
    baseline = ast.unparse(tree)
    seen = {baseline}
    mutants = []
    order = _walk_with_fields(tree)
    for index, (node, field) in enumerate(order):
        if id(node) in skip:
            continue
        for c, (kind, _mutate) in enumerate(_candidates(node, field)):
            fresh = ast.parse(source)
            target = _walk_with_fields(fresh)[index][0]
            twin = copy.deepcopy(target)
            result = _candidates(target, field)[c][1](twin)
            replacement = result if isinstance(result, ast.AST) else twin
            _replace(fresh, target, replacement)
            ast.fix_missing_locations(fresh)
            try:
                text = ast.unparse(fresh)
                compile(text, "<mutant>", "exec")
            except (SyntaxError, ValueError):
                continue
            if text in seen:
                continue
            seen.add(text)
            before = ast.get_source_segment(source, node) or ast.unparse(node)
            before = " ".join(before.split())
            after = " ".join(ast.unparse(replacement).split())
            line = getattr(node, "lineno", 0)
            mutants.append((Mutant(index, kind, line, owners.get(id(node), "<module>"), before[:120], after[:120]),
                            text))
    seen_keys: dict = {}
    for number, (mutant, _) in enumerate(mutants, start=1):
        mutant.number = number
        base = mutant.key  # twin 1: no "#n" yet
        mutant.twin = seen_keys[base] = seen_keys.get(base, 0) + 1
    return mutants


def copy_repository(workdir: Path) -> Path:
    """The working tree's files (tracked and untracked-but-not-ignored) copied into ``workdir``."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True,
    )
    if listing.returncode == 0:
        listed = listing.stdout.split("\0")
    else:  # not a git checkout (e.g. an exported commit): everything but caches and the venv
        ignored = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "runs", "data"}
        listed = [str(p.relative_to(REPO)) for p in REPO.rglob("*")
                  if p.is_file() and not ignored.intersection(p.relative_to(REPO).parts)]
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            dst = workdir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return workdir


def mutant_env(workdir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(workdir) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of the same size and mtime must not reuse a .pyc
    env.setdefault("MPLBACKEND", "Agg")
    return env


def check_copy_is_imported(workdir: Path, module: str, env: dict) -> None:
    """The copy must shadow the editable install of the repository (else mutants change nothing)."""
    name = module.removesuffix(".py").replace("/", ".")
    code = f"import {name} as m; print(m.__file__)"
    where = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True,
                           text=True, check=True).stdout.strip()
    if Path(where).resolve() != (workdir / module).resolve():
        raise SystemExit(f"mutate: {name} is imported from {where}, not from the copy {workdir}")
    print(f"# {name} imported from the copy: {where}", flush=True)


def run_tests(workdir: Path, tests: list[str], env: dict, timeout: float, keyword: str | None = None
              ) -> tuple[str, float, str]:
    """Run the first test file alone, then (if it passes) the others in one more pytest, each
    with ``-x``: a mutant the first, fast file kills never pays for importing what the others
    need, and a survivor pays for two interpreter starts, not one per file. ``timeout``
    bounds the whole run of one mutant."""
    start = time.perf_counter()
    for stage in ([tests[0]], tests[1:]):
        if not stage:
            continue
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *_selected(keyword), *stage]
        left = timeout - (time.perf_counter() - start)
        try:
            result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            return "timeout", time.perf_counter() - start, " ".join(stage)
        if _failed(result.returncode, keyword):
            lines = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
            return "killed", time.perf_counter() - start, (lines[0] if lines else result.stdout[-200:])
    return "survived", time.perf_counter() - start, ""


def _selected(keyword: str | None) -> list:
    """pytest's -k, and no failure when a stage holds no selected test (exit 5 is not a kill)."""
    return [] if keyword is None else ["-k", keyword]


def _failed(code: int, keyword: str | None) -> bool:
    return code != 0 and not (keyword is not None and code == 5)


def run_tests_forked(workdir: Path, tests: list[str], timeout: float, keyword: str | None = None
                     ) -> tuple[str, float, str]:
    """``run_tests`` without starting an interpreter per stage: this process has imported the
    heavy libraries (``--preload``) but none of the repository's modules, and each stage runs
    ``pytest.main`` in a fork of it, which imports the (mutated) modules from the copy."""
    start = time.perf_counter()
    for stage in ([tests[0]], tests[1:]):
        if not stage:
            continue
        log = workdir / ".mutate-stage.log"
        pid = os.fork()
        if pid == 0:  # the child: run the stage, exit with pytest's status
            try:
                os.chdir(workdir)
                sys.path[:] = [str(workdir)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "tests"]
                sys.dont_write_bytecode = True
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                import pytest

                code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *_selected(keyword), *stage]))
            except BaseException:  # noqa: BLE001 - whatever happens, the child must not return
                code = 99
            os._exit(code)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.perf_counter() - start > timeout:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return "timeout", time.perf_counter() - start, " ".join(stage)
            time.sleep(0.02)
        if _failed(os.waitstatus_to_exitcode(status), keyword):
            lines = [line for line in log.read_text(errors="replace").splitlines()
                     if line.startswith(("FAILED", "ERROR"))]
            return "killed", time.perf_counter() - start, (lines[0] if lines else "")
    return "survived", time.perf_counter() - start, ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the file to mutate, relative to the repository root")
    parser.add_argument("-t", "--tests", action="append", default=[],
                        help="a test file to run (repeatable; run in the order given, so put the fastest first)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds per mutant (default 600: on a loaded machine a short limit would count "
                        "slow survivors as caught)")
    parser.add_argument("--workdir", help="where to copy the repository (default: a new temporary folder)")
    parser.add_argument("--only", type=int, nargs="+", help="run only these mutant numbers")
    parser.add_argument("-k", "--keyword", help="run only the tests pytest -k selects (e.g. the fast ones)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--stale", action="store_true",
                        help="list the equivalents argued for this file that match none of its mutants "
                        "(their line moved or their code changed: argue them again), run nothing")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--replace", nargs=2, action="append", metavar=("OLD", "NEW"),
                        help="instead of the catalogue, the mutant that replaces the first OLD by NEW "
                        "in the file's text (repeatable: one mutant each)")
    parser.add_argument("--fork", metavar="MODULES",
                        help="import these (comma-separated, e.g. numpy,torch,pytest) once here and run "
                        "each stage in a fork instead of a new interpreter: much faster, POSIX only")
    args = parser.parse_args(argv)

    source = (REPO / args.module).read_text()
    if args.replace:
        mutants = []
        for number, (old, new) in enumerate(args.replace, start=1):
            if old not in source:
                raise SystemExit(f"mutate: {old!r} is not in {args.module}")
            line = source[: source.index(old)].count("\n") + 1
            mutants.append((Mutant(-1, "replace", line, "<text>", old, new, number), source.replace(old, new, 1)))
    else:
        mutants = make_mutants(source)
    if args.stale:
        keys = {f"{args.module}::{m.key}" for m, _ in mutants}
        stale = [k for k in EQUIVALENT if k.startswith(f"{args.module}::") and k not in keys]
        for k in stale:
            print(f"stale: {k}")
        return 1 if stale else 0
    if args.list:
        for m, _ in mutants:
            print(f"{m.number:4d}  line {m.line:4d}  {m.function:<30} {m.kind:<26} {m.before}  ->  {m.after}")
        return 0
    if not args.tests:
        parser.error("the test files to run are required (-t)")
    chosen = [(m, text) for m, text in mutants if not args.only or m.number in args.only]

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mutate-"))
    if REPO.resolve() in (workdir.resolve(), *workdir.resolve().parents):
        raise SystemExit("mutate: --workdir must be outside the repository")
    workdir.mkdir(parents=True, exist_ok=True)
    copy_repository(workdir)
    target = workdir / args.module
    env = mutant_env(workdir)
    check_copy_is_imported(workdir, args.module, env)

    if args.fork:
        os.environ.update(env)
        for name in args.fork.split(","):
            __import__(name)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("manual", "reference", "compare"))
        if leaked:
            raise SystemExit(f"mutate: --fork {args.fork} imported the repository's own {leaked}")
        pid = os.fork()
        if pid == 0:  # a child imports the module from the copy, as the stages will
            sys.path[:] = [str(workdir)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "tests"]
            module = __import__(args.module.removesuffix(".py").replace("/", "."), fromlist=["_"])
            os._exit(0 if Path(module.__file__).resolve() == target.resolve() else 1)
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            raise SystemExit(f"mutate: in a fork, {args.module} is not imported from the copy {workdir}")

    def run(tests):
        if args.fork:
            return run_tests_forked(workdir, tests, args.timeout, args.keyword)
        return run_tests(workdir, tests, env, args.timeout, args.keyword)

    original = target.read_text()
    try:
        target.write_text(source if args.replace else ast.unparse(ast.parse(source)))  # must pass
        status, seconds, detail = run(args.tests)
        if status != "survived":
            raise SystemExit(f"mutate: the tests fail on the unmutated (unparsed) module: {detail}")
        print(f"# baseline passes in {seconds:.1f} s; {len(chosen)} of {len(mutants)} mutants", flush=True)
        for m, text in chosen:
            target.write_text(text)
            m.status, m.seconds, m.detail = run(args.tests)
            if m.status == "survived" and f"{args.module}::{m.key}" in EQUIVALENT:
                m.status = "equivalent"
            print(f"{m.number:4d} {m.status:<10} {m.seconds:5.1f}s line {m.line:4d} {m.function:<28} "
                  f"{m.kind:<24} {m.before}  ->  {m.after}", flush=True)
    finally:
        target.write_text(original)
        if not args.workdir:  # a scratch copy of our own making: gone with the run (a mutant may have
            shutil.rmtree(workdir, ignore_errors=True)  # written anywhere in it)

    ran = [m for m, _ in chosen]
    counts = {s: sum(m.status == s for m in ran) for s in ("killed", "timeout", "survived", "equivalent")}
    real = len(ran) - counts["equivalent"]
    caught = counts["killed"] + counts["timeout"]
    print(f"# {args.module}: {caught}/{real} non-equivalent mutants caught "
          f"({100 * caught / max(real, 1):.1f}%), {counts['equivalent']} equivalent, "
          f"{counts['survived']} survived")
    for m in ran:
        if m.status == "survived":
            print(f"#   SURVIVED {m.number}: line {m.line} {m.key}")
        elif m.status == "equivalent":
            print(f"#   equivalent {m.number}: line {m.line} {m.key} -- {EQUIVALENT[f'{args.module}::{m.key}']}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(m) | {"key": m.key} for m in ran], indent=1))
    return 0 if counts["survived"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
