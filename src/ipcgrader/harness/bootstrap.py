"""Drive a student's module with an exercise-owned driver. Standard library only.

Run as the main program of a graded run (``python bootstrap.py``) with ``IPCGRADER_CALL``
holding JSON: ``module`` (the student's module name), ``driver`` (path of the exercise's
driver file), ``params`` and optionally ``start_method``, ``status`` (where to write
a JSON account of a student error) and ``done`` (a file created once the driver has
returned). It imports the student's module, then calls ``driver.drive(student, **params)``.

Student errors are told apart from driver bugs: an exception raised while importing the
student's module, or an ``AttributeError`` on it (a missing function), is written to the
status file with the student's own file and line, and the process exits with status 3.
So is a ``sys.exit()`` in the student's code while the driver runs (in the main process: a
child's exit is its own business). An ``os._exit()`` escapes every handler: the missing
``done`` file tells the grader that the program ended before the driver was done.

A failure of the exercise's own code is the exercise's, not the student's: when the driver
cannot be imported, or an exception escapes ``drive`` that was raised in the exercise folder
(the driver, a helper module beside it) or by a library while none of the student's code was
on the stack, the status file says ``exercise_error`` with the exercise file and line (see
``_owner_frame``). Any other exception stays the student's (it is re-raised and read from
stderr): one raised in the student's code, or in a library the student's call reached (a
lambda target that spawn cannot pickle).

Start-up cost matters: imports that only error paths need are made there.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType, TracebackType

STUDENT_ERROR_EXIT = 3


def _student_frame(
    tb: TracebackType | None, workdir: str, *, innermost: bool = False
) -> tuple[str | None, int | None]:
    """The innermost traceback frame that is in the student's folder; with ``innermost``,
    the innermost frame of all, if it is the student's (the student raised it)."""
    import traceback

    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(tb):
        path = os.path.abspath(frame.filename)
        if os.path.dirname(path) == workdir:
            found = (os.path.basename(path), frame.lineno)
        elif innermost:
            found = (None, None)
    return found


def _owner_frame(
    tb: TracebackType | None, workdir: str, exercise_dir: str
) -> tuple[str | None, str | None, int | None]:
    """Whose failure this is: ``("student" | "exercise" | None, file, line)``.

    The exercise's when the exception was raised in exercise code (its innermost frame of
    all is the driver's or a helper's), or when no frame of the student's is on the stack
    (the driver's own call into a library failed). Otherwise, while the student's code is on
    the stack, it is the student's even when the innermost owned frame is the exercise's: a
    driver's wrapper (of ``Process.start``, say) that the student's call went through, into a
    library that raised because of what the student gave it (a lambda as target under
    spawn), is not the exercise's failure. Library frames are nobody's."""
    import traceback

    found: tuple[str | None, str | None, int | None] = (None, None, None)
    student = found
    raised_in_exercise = False  # the innermost frame of all is the exercise's
    for frame in traceback.extract_tb(tb):
        path = os.path.abspath(frame.filename)
        raised_in_exercise = False
        if os.path.dirname(path) == workdir:
            found = student = ("student", os.path.basename(path), frame.lineno)
        elif exercise_dir and path.startswith(exercise_dir + os.sep):
            found = ("exercise", os.path.relpath(path, exercise_dir), frame.lineno)
            raised_in_exercise = True
    if found[0] == "exercise" and student[0] is not None and not raised_in_exercise:
        return student
    return found


def _exercise_error(
    status_path: str | None, exc: BaseException, file: str | None, line: int | None
) -> int:
    _report(
        status_path,
        {
            "kind": "exercise_error",
            "message": f"{type(exc).__name__}: {exc}",
            "file": file,
            "line": line,
            "exception": type(exc).__name__,
        },
    )
    _print_exc()
    return STUDENT_ERROR_EXIT


def _report(status_path: str | None, record: dict[str, object]) -> None:
    if status_path:
        with open(status_path, "w", encoding="utf-8") as handle:
            json.dump(record, handle)


def _load_driver(path: str) -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_ipcgrader_driver", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load driver {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _default_start_method(method: str) -> None:
    """Make ``method`` the run's default start method without setting it (the harness's
    sitecustomize has done so already; this is for a run where it could not), so that the
    student's own ``set_start_method()`` works as it does in ``python prog.py``: a driven
    run must not fail with "context has already been set" where a plain run does not. If
    the student's call picks another method, it wins, as it would on their machine; the
    trace records it and the grader says which runs it changed (docs/trace.md)."""
    from multiprocessing import context

    default = getattr(context, "_default_context")  # noqa: B009 - private, not in stubs
    concrete = getattr(context, "_concrete_contexts", {})
    if getattr(default, "_actual_context", None) is None and method in concrete:
        default._default_context = concrete[method]


def _print_exc() -> None:
    import traceback

    traceback.print_exc()


def main() -> int:
    call = json.loads(os.environ["IPCGRADER_CALL"])
    workdir = os.path.abspath(os.getcwd())
    status_path = call.get("status")
    sys.path.insert(0, workdir)
    # the student's module must not be shadowed by this folder's files
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here or p == workdir]
    if call.get("start_method"):
        _default_start_method(call["start_method"])
    # Spawn and forkserver children re-run the main module as __mp_main__ unless it has no
    # __file__. Nothing here is needed in a child (it unpickles the student's function from
    # the student's module), so spare every child running this file again.
    sys.modules["__main__"].__dict__.pop("__file__", None)
    module_name = call["module"]
    try:
        student = importlib.import_module(module_name)
    except SyntaxError as exc:
        _report(
            status_path,
            {
                "kind": "syntax_error",
                "message": f"SyntaxError: {exc.msg}",
                "params": {"reason": exc.msg},
                "file": os.path.basename(exc.filename or module_name + ".py"),
                "line": exc.lineno,
                "exception": "SyntaxError",
            },
        )
        _print_exc()
        return STUDENT_ERROR_EXIT
    except BaseException as exc:
        file, line = _student_frame(exc.__traceback__, workdir)
        _report(
            status_path,
            {
                "kind": "import_error",
                "message": f"importing {module_name}.py raised {type(exc).__name__}: {exc}",
                "params": {"module": module_name, "error": f"{type(exc).__name__}: {exc}"},
                "file": file,
                "line": line,
                "exception": type(exc).__name__,
            },
        )
        _print_exc()
        return STUDENT_ERROR_EXIT
    exercise_dir = os.path.abspath(call.get("exercise_dir") or os.path.dirname(call["driver"]))
    try:
        driver = _load_driver(call["driver"])
    except BaseException as exc:  # the student has no part in importing the driver
        import traceback

        file, line = os.path.relpath(call["driver"], exercise_dir), None
        if isinstance(exc, SyntaxError) and exc.lineno is not None:
            line = exc.lineno
        for frame in traceback.extract_tb(exc.__traceback__):  # its innermost line of ours
            path = os.path.abspath(frame.filename)
            if path.startswith(exercise_dir + os.sep):
                file, line = os.path.relpath(path, exercise_dir), frame.lineno
        return _exercise_error(status_path, exc, file, line)
    try:
        driver.drive(student, **call.get("params", {}))
    except AttributeError as exc:
        if getattr(exc, "obj", None) is student and getattr(exc, "name", None):
            _report(
                status_path,
                {
                    "kind": "missing_function",
                    "message": f"{module_name}.py has no function {exc.name}()",
                    "params": {"module": module_name, "function": exc.name},
                    "file": f"{module_name}.py",
                    "line": None,
                    "exception": "AttributeError",
                },
            )
            return STUDENT_ERROR_EXIT
        owner, file, line = _owner_frame(exc.__traceback__, workdir, exercise_dir)
        if owner == "exercise":
            return _exercise_error(status_path, exc, file, line)
        raise
    except SystemExit as exc:
        file, line = _student_frame(exc.__traceback__, workdir, innermost=True)
        if file is None:
            raise  # the driver's own exit (it may stop a run that cannot go on)
        _report(
            status_path,
            {
                "kind": "exited_early",
                "message": f"your code called sys.exit({exc.code!r}) before the driver was done",
                "params": {"code": repr(exc.code)},
                "file": file,
                "line": line,
                "exception": "SystemExit",
            },
        )
        return STUDENT_ERROR_EXIT
    except Exception as exc:
        owner, file, line = _owner_frame(exc.__traceback__, workdir, exercise_dir)
        if owner == "exercise":
            return _exercise_error(status_path, exc, file, line)
        raise  # the student's code raised (inside a call the driver made): theirs
    if call.get("done"):
        with open(call["done"], "wb"):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
