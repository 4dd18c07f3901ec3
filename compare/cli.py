"""What the command lines share: one-line errors, exit codes, Ctrl-C, a quick ``--help``.

Every command (``train_both``, ``gradcheck``, ``bench``) reports a mistake the same way:
one line on stderr, ``<name>: error: <what was wrong, with the bad value>; <what to do>``,
and exit status 2. Ctrl-C at any moment, start-up included, prints ``<name>: interrupted``
and exits with 130 (the shell's code for SIGINT).

Start-up is kept short by importing torch, torchvision and matplotlib only after the
command line is parsed: ``--help`` and a bad flag answer in about the time NumPy takes to
import.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

EXIT_USAGE = 2
EXIT_INTERNAL = 3  # the command's own failure (a bug, a machine problem): never a verdict
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command line or setting: reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's error style: a mistake prints one line, ``<name>: error: ...``,
    instead of the usage over several lines, and exits with status 2 (``SystemExit``, as
    argparse does). ``name`` is the command's short name (``train_both``)."""

    def __init__(self, name: str, **kwargs):
        super().__init__(**kwargs)
        self.name = name

    def error(self, message):
        print(f"{self.name}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def prog(module: str, script: str) -> str:
    """The name under which the user called the command: its console script or ``python -m``."""
    called = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if called == script else f"python -m {module}"


def interrupt_exits_at_once(name: str) -> None:
    """Until ``run`` starts: Ctrl-C prints one line and exits 130, even in the middle of an import.

    Called at the top of a command's module when it runs as ``python -m``, before the
    module's own imports.
    """
    global _startup_handler

    def handler(signum, frame):
        sys.stderr.write(f"{name}: interrupted\n")
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if SIGINT is ignored (a background job)
        signal.signal(signal.SIGINT, handler)
        _startup_handler = handler


_startup_handler = None


def run(name: str, body, argv=None) -> int:
    """``body(argv)``'s exit status; a ``UsageError`` or Ctrl-C becomes one line on stderr.

    ``body`` may catch ``KeyboardInterrupt`` itself to save what it has done first (and
    return 130); any interrupt it leaves ends here.
    """
    if _startup_handler is not None and signal.getsignal(signal.SIGINT) is _startup_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here Ctrl-C raises KeyboardInterrupt
    try:
        return body(argv)
    except UsageError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        if _startup_handler is not None:  # this process is the command: leave now
            # After a Ctrl-C that cut torch's import short, the interpreter sometimes ended by the signal
            # itself at shut-down (2 runs in 16 at 0.8 s: status -SIGINT after this one line), not with
            # exit 130: end here, streams flushed. Nothing is left to save at this point.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED


def run_guarded(name: str, body, argv=None, internal: str = "internal error") -> int:
    """``run``, and any other exception of ``body`` as one line and exit 3: a grader's own failure
    must never read as a verdict on the code it grades."""

    def guarded(argv):
        try:
            return body(argv)
        except (KeyboardInterrupt, UsageError):
            raise
        except Exception as error:  # noqa: BLE001 - one line, whatever it was
            from .grading.errors import clean_text  # its text may quote a submission's: made printable

            print(f"{name}: {internal}: {type(error).__name__}: {clean_text(error, 300)}", file=sys.stderr)
            return EXIT_INTERNAL

    return run(name, guarded, argv)


# The commands that use this module, by the name Python runs them under. When this process is
# one of them, Ctrl-C exits at once from here on, through the imports that follow this one (each
# command imports this module first); ``run`` hands Ctrl-C back to Python as KeyboardInterrupt.
COMMANDS = {"compare.train_both": "train_both", "compare.gradcheck": "gradcheck", "compare.bench": "bench",
            "compare.validate": "validate", "compare.grade": "grade"}
SCRIPTS = {"backprop-train-both": "train_both", "backprop-gradcheck": "gradcheck", "backprop-bench": "bench",
           "backprop-validate": "validate", "backprop-grade": "grade"}


def _command_starting() -> str | None:
    """'train_both' etc. when this process was started as one of the commands, else None."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name in COMMANDS:
        return COMMANDS[spec.name]
    return SCRIPTS.get(os.path.basename(sys.argv[0]) if sys.argv else "")


if _command_starting():
    interrupt_exits_at_once(_command_starting())
