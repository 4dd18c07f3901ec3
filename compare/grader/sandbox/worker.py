"""The worker process: the only place where a student's code runs.

    python -I -S -B worker.py --fd N --site DIR [--uid U --gid G] [--deny torch,manual,...]

It reads requests from the socket ``N`` (``wire`` frames from the grader), performs them with
``host.Host`` and answers each with one frame. Before any student code runs it drops to the
throwaway user id ``U`` when it was started as root inside the sandbox (so resource limits on
processes apply and nothing outside its private folder is writable), puts ``DIR`` (NumPy and
nothing else, unless the assignment allows more) on ``sys.path``, and refuses imports of the
answer key and of autograd libraries. Standard library and NumPy only.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import os
import signal
import socket
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))


class ForbiddenImport(ImportError):
    forbidden = True


class DenyImports(importlib.abc.MetaPathFinder):
    """Refuses ``import NAME`` (and its submodules) for the listed top-level names."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.names:
            what = "the answer key" if top in ("manual", "reference", "compare") else "an autograd library"
            raise ForbiddenImport(f"imports {top}: this assignment is NumPy only ({top} is {what}; "
                                  f"the course may allow it with --allow-import {top})", name=fullname)
        return None


def _set_limits(spec: str) -> None:
    """'as=BYTES,cpu=S,nproc=N,fsize=BYTES,nofile=N,rttime=TAG' → setrlimit (soft = hard), and no
    core dumps (rttime: the grader's mark on the worker and all it starts)."""
    import resource

    names = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "nproc": resource.RLIMIT_NPROC,
             "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE, "rttime": resource.RLIMIT_RTTIME}
    limits = dict(item.split("=") for item in spec.split(",") if item)
    for key, value in limits.items():
        resource.setrlimit(names[key], (int(value), int(value)))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit("worker: could not drop privileges")


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the grader dies (even mid-C-loop)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the socket's EOF still ends an idle worker
        pass


def _load_grader_modules():
    """This folder as the package ``_grader`` (its modules use relative imports)."""
    spec = importlib.util.spec_from_file_location("_grader", os.path.join(HERE, "__init__.py"),
                                                  submodule_search_locations=[HERE])
    package = importlib.util.module_from_spec(spec)
    sys.modules["_grader"] = package
    spec.loader.exec_module(package)
    from _grader import errors, host, wire  # noqa: PLC0415 - after the package exists

    return errors, host, wire


def serve(sock, errors, host_module, wire, deny) -> None:
    host = None
    while True:
        try:
            header, arrays = wire.read_frame(sock)
        except (EOFError, OSError, wire.WireError):
            return
        seq, op = header.get("seq"), header.get("op")
        reply, out = {"seq": seq, "status": "ok"}, {}
        try:
            if op == "load":
                host_module.prepare_process(header["sys_path"], header["cwd"])
                sys.meta_path.insert(0, DenyImports(deny))
                from _grader.stubs import StubImports  # noqa: PLC0415 - the package exists now

                sys.meta_path.append(StubImports(header.get("stubs") or (), deny))  # last: only what is missing
                host = host_module.Host(host_module.load_factory(header.get("module"), header.get("file"),
                                                                 header["attr"], header.get("module_name", "submission")))
            elif op == "make":
                args = [tuple(a) if isinstance(a, list) else a for a in header["args"]]
                out = host.make(header["key"], header["call"], args, header["method"])
                reply["names"] = list(out)
            elif op == "set_params":
                host.set_params(header["key"], arrays)
            elif op == "call":
                args = [arrays[a["array"]] if "array" in a else a["value"] for a in header["args"]]
                loss, grads = host.call(header["key"], header["method"], header["signature"], args)
                out = {"loss": loss, **{f"g:{name}": g for name, g in grads.items()}}
                reply["names"] = list(grads)
            else:
                raise errors.StudentError("contract", f"unknown request {op!r}")
        except errors.StudentError as error:
            reply = {"seq": seq, "status": "error", "kind": error.kind,
                     "message": errors.clean_text(str(error), 2000), "exc_type": error.exc_type}
            out = {}
        except BaseException as error:  # noqa: BLE001 - e.g. SystemExit from a module's top level
            kind = "forbidden" if getattr(error, "forbidden", False) else "raised"
            reply = {"seq": seq, "status": "error", "kind": kind,
                     "message": f"{op} raised {host_module.describe_exception(error)}",
                     "exc_type": type(error).__name__}
            out = {}
        try:
            wire.write_frame(sock, reply, out)
        except (OSError, wire.WireError, ValueError) as error:
            wire.write_frame(sock, {"seq": seq, "status": "error", "kind": "contract",
                                    "message": f"cannot send the result back: {type(error).__name__}"})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--site", action="append", default=[])
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--deny", default="")
    parser.add_argument("--limits", default="")
    args = parser.parse_args(argv)
    _set_limits(args.limits)
    if args.uid is not None:
        _drop_privileges(args.uid, args.gid if args.gid is not None else args.uid)
    _die_with_parent()
    sys.path[:0] = args.site
    warnings.simplefilter("ignore")  # student RuntimeWarnings are noise here
    sys.stdin = None  # stdin is closed; input() raises at once instead of blocking
    errors, host_module, wire = _load_grader_modules()
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(True)
    serve(sock, errors, host_module, wire, [n for n in args.deny.split(",") if n])


if __name__ == "__main__":
    main()
