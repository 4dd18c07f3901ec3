"""What the command lines share: one-line errors, exit codes, Ctrl-C, a quick ``--help``.

Every command (``train_both``, ``gradcheck``, ``bench``, ``validate``, ``grade``, ``autograder``)
reports a mistake the same way: one line on stderr, ``<name>: error: <what was wrong, with the
bad value>; <what to do>``, and exit status 2 (one ``Parser``, one ``number`` type for every
numeric flag); a command's own failure is exit status 3 (``run_guarded``). JSON files are
written whole or not at all (``write_json_atomic``). Ctrl-C at any moment, start-up included, prints ``<name>: interrupted``
and exits with 130 (the shell's code for SIGINT).

A command that passes ``stop_signals=True`` to ``run`` is stopped by SIGTERM (``timeout``, a
job scheduler's time limit, ``kill``) and SIGHUP (its terminal closed) exactly as by Ctrl-C:
the signal is raised as ``Interrupted``, a ``KeyboardInterrupt``, so whatever the command
saves on Ctrl-C it saves then too; one line, ``<name>: interrupted (SIGTERM)``, and exit
status 128 + the signal's number (143, 129). During start-up (before ``run``) every command
treats them so; after it, a command that does not ask keeps their default action. A signal
that is ignored when the command starts (SIGHUP under ``nohup``) stays ignored. Output paths
are checked before any work (``check_output_file``; a run's folder: ``lab.run_folder``).

Start-up is kept short by importing torch, torchvision and matplotlib only after the
command line is parsed: ``--help`` and a bad flag answer in about the time NumPy takes to
import.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading

EXIT_USAGE = 2
EXIT_INTERNAL = 3  # the command's own failure (a bug, a machine problem): never a verdict
EXIT_INTERRUPTED = 130  # 128 + SIGINT
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # what ends a run, its work kept


class Interrupted(KeyboardInterrupt):
    """A stop signal other than Ctrl-C (SIGTERM, SIGHUP), raised where the program was.

    A ``KeyboardInterrupt``, so code that saves its work on Ctrl-C saves it on these as well;
    ``signum`` says which signal it was.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_number(interrupt: BaseException) -> int:
    """The signal behind an interrupt: ``Interrupted``'s own, else SIGINT (Ctrl-C)."""
    return getattr(interrupt, "signum", signal.SIGINT)


def signal_name(interrupt: BaseException) -> str:
    """'SIGINT', 'SIGTERM' or 'SIGHUP'."""
    return signal.Signals(signal_number(interrupt)).name


def interrupt_status(interrupt: BaseException) -> int:
    """The exit status for an interrupt: 128 + the signal's number (130, 143, 129), as a shell gives."""
    return 128 + signal_number(interrupt)


def interrupted_line(name: str, interrupt: BaseException) -> str:
    """'train_both: interrupted' for Ctrl-C, 'train_both: interrupted (SIGTERM)' for another signal."""
    number = signal_number(interrupt)
    return f"{name}: interrupted" + ("" if number == signal.SIGINT else f" ({signal.Signals(number).name})")


class UsageError(Exception):
    """A bad command line or setting: reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: a mistake is one line, ``<name>: error: ...``,
    never the usage over several lines, and exit status 2.

    ``Parser(prog=...)`` raises ``UsageError(message)``: ``run`` prints the line, and a command
    that checks more than argparse can (files, folders, settings) reports those the same way.
    ``Parser(name, prog=...)`` prints the line itself and raises ``SystemExit(2)``, as argparse
    does, for a caller that parses outside ``run``.
    """

    def __init__(self, name: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.name = name

    def error(self, message):
        if self.name is None:
            raise UsageError(message)
        print(f"{self.name}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def prog(module: str, script: str) -> str:
    """The name under which the user called the command: its console script or ``python -m``."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if called == script else f"python -m {module}"


def interrupt_exits_at_once(name: str) -> None:
    """Until ``run`` starts: Ctrl-C, SIGTERM or SIGHUP prints one line and exits 128 + its number,
    even in the middle of an import.

    Called at the top of a command's module when it runs as ``python -m``, before the
    module's own imports. A signal ignored at start (SIGINT in a background job, SIGHUP under
    ``nohup``) stays ignored.
    """
    global _startup_handler

    def handler(signum, frame):
        sys.stderr.write(interrupted_line(name, Interrupted(signum)) + "\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    for number in STOP_SIGNALS:
        if signal.getsignal(number) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(number, handler)
    _startup_handler = handler
    report_stage("start-up")


STAGES_ENV = "COMPARE_REPORT_STAGES"


def report_stage(stage: str) -> None:
    """With ``COMPARE_REPORT_STAGES=1``, print ``stage: <stage>`` on stdout: a point a test can wait
    for before it sends a signal (instead of a delay that a busy machine would make wrong).

    ``start-up``: the start-up handler is in place, the command's own imports (NumPy, torch)
    follow at once.
    """
    if os.environ.get(STAGES_ENV) == "1":
        print(f"stage: {stage}", flush=True)


_startup_handler = None


def _raise_interrupted(signum, frame):
    if _held is not None:  # files are being finished: the signal is noted, acted on afterwards
        _held.append(signum)
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


_held = None  # while ``holding_stop_signals`` runs: the stop signals received, in order


def stop_signals_interrupt() -> None:
    """From now on SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (``Interrupted`` for the
    last two) wherever the program is: a command's "signals end the run like Ctrl-C".

    ``run(..., stop_signals=True)`` calls it; a command may call it itself. Signals ignored
    now stay ignored.
    """
    _set_handlers({number: _raise_interrupted for number in STOP_SIGNALS
                   if signal.getsignal(number) not in (signal.SIG_IGN, None)})


@contextlib.contextmanager
def holding_stop_signals():
    """Inside: a stop signal does not cut the block short (files being written are finished); the
    first one that came is raised when the block ends, unless the block ends by an exception.
    Needs ``stop_signals_interrupt``."""
    global _held
    outer, _held = _held, []
    try:
        yield
    finally:
        held, _held = _held, outer
    if held:
        _raise_interrupted(held[0], None)


def ignore_stop_signals() -> None:
    """From now on SIGINT, SIGTERM and SIGHUP are ignored: the command is ending after an interrupt,
    and a second signal must neither cut its files short nor print a second line."""
    _set_handlers({number: signal.SIG_IGN for number in STOP_SIGNALS})


def run(name: str, body, argv=None, stop_signals: bool = False) -> int:
    """``body(argv)``'s exit status; a ``UsageError`` or Ctrl-C becomes one line on stderr.

    ``body`` may catch ``KeyboardInterrupt`` itself to save what it has done first (and
    return ``interrupt_status(error)``); any interrupt it leaves ends here, with 130.
    With ``stop_signals``, SIGTERM and SIGHUP end ``body`` as Ctrl-C does (``Interrupted``)
    and the status is 128 + the signal's number; without, they keep their default action.
    """
    before = _handlers_after_startup()
    if stop_signals:
        stop_signals_interrupt()  # in place of the start-up handler at once: no moment without one
    else:
        _set_handlers(before)  # from here Ctrl-C raises KeyboardInterrupt; SIGTERM, SIGHUP their default
    try:
        return body(argv)
    except UsageError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as interrupt:
        if stop_signals:
            ignore_stop_signals()  # one line, whatever comes next
        print(interrupted_line(name, interrupt), file=sys.stderr)
        if _startup_handler is not None:  # this process is the command: leave now
            # After a Ctrl-C that cut torch's import short, the interpreter sometimes ended by the signal
            # itself at shut-down (2 runs in 16 at 0.8 s: status -SIGINT after this one line), not with
            # exit 130: end here, streams flushed. Nothing is left to save at this point.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(interrupt_status(interrupt))
        return interrupt_status(interrupt)
    finally:
        if stop_signals:  # called as a function (a test, a notebook): its caller's handlers back
            _set_handlers(before)


def _handlers_after_startup() -> dict:
    """Each stop signal's handler as now, the start-up handler read as Python's default."""
    handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number, handler in handlers.items():
        if _startup_handler is not None and handler is _startup_handler:
            handlers[number] = signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL
    return handlers


def _set_handlers(handlers: dict) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (and only it receives signals)
    for number, handler in handlers.items():
        if handler is not None and signal.getsignal(number) is not handler:
            signal.signal(number, handler)


def run_guarded(name: str, body, argv=None, internal: str = "internal error", stop_signals: bool = False) -> int:
    """``run``, and any other exception of ``body`` as one line and exit 3: a grader's own failure
    must never read as a verdict on the code it grades."""

    def guarded(argv):
        try:
            return body(argv)
        except (KeyboardInterrupt, UsageError):
            raise
        except Exception as error:  # noqa: BLE001 - one line, whatever it was
            from compare.grader.sandbox.errors import clean_text

            print(f"{name}: {internal}: {type(error).__name__}: {clean_text(error, 300)}", file=sys.stderr)
            return EXIT_INTERNAL

    return run(name, guarded, argv, stop_signals=stop_signals)


# The commands that use this module, by the name Python runs them under. When this process is
# one of them, Ctrl-C (SIGTERM, SIGHUP) exits at once from here on, through the imports that follow this
# one (each command imports this module first); ``run`` hands Ctrl-C back to Python as
# KeyboardInterrupt, and SIGTERM and SIGHUP back to their default (or to ``Interrupted``).
COMMANDS = {"compare.train_both": "train_both", "compare.gradcheck": "gradcheck", "compare.bench": "bench",
            "compare.validate": "validate", "compare.grade": "grade", "compare.grader.autograder": "autograder"}
SCRIPTS = {"backprop-train-both": "train_both", "backprop-gradcheck": "gradcheck", "backprop-bench": "bench",
           "backprop-validate": "validate", "backprop-grade": "grade", "backprop-autograder": "autograder"}


def _command_starting() -> str | None:
    """'train_both' etc. when this process was started as one of the commands, else None."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name in COMMANDS:
        return COMMANDS[spec.name]
    return SCRIPTS.get(os.path.basename(sys.argv[0]) if sys.argv else "")


if _command_starting():
    interrupt_exits_at_once(_command_starting())


def number(convert, minimum, what: str, *, exclusive: bool = False):
    """An argparse type: a finite number ≥ ``minimum`` (> ``minimum`` when ``exclusive``), else an
    error that names the bad value (``--jobs 0`` → "expected a whole number ≥ 1, got '0'")."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        too_small = value <= minimum if exclusive else value < minimum
        if too_small or not value < float("inf"):  # NaN fails both comparisons
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def write_json_atomic(path, data, *, indent: int = 2, allow_nan: bool = False, mode: int | None = None) -> None:
    """Write ``data`` as JSON to ``path`` in one step: a temporary file beside it, then
    ``os.replace``, so a reader (or a run stopped half-way) never sees half a file, and a value
    JSON cannot hold (NaN with ``allow_nan=False``) leaves the previous file as it was. The file
    gets ``mode``, by default the usual permissions (0666 less the umask), never ``mkstemp``'s 0600."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent, allow_nan=allow_nan)
            handle.write("\n")
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_output_file(flag: str, path) -> None:
    """Before the work, not after it: the file ``flag`` asks for has a folder to go in
    (``UsageError`` naming the flag, the path and the missing folder)."""
    folder = os.path.dirname(os.path.abspath(path)) if path else None
    if folder and not os.path.isdir(folder):
        raise UsageError(f"{flag} {path}: there is no folder {folder!r} to write it into")
