"""``spawn_safe``: the program does not rely on the fork start method.

Under fork a child is a copy of its parent: module-level objects, and names bound under
``if __name__ == "__main__":``, are simply there. Under spawn (the default on macOS and
Windows) and forkserver (the default on Linux from Python 3.14 on) a child starts a fresh
interpreter and imports the student's module again: a module-level ``Lock()`` is a new,
unshared lock in every child, names bound only under the main guard do not exist, and
processes started at import time start again in every child (which Python refuses).

Judged from the student's source (listed in the scenario's ``collect``), so the verdict
does not depend on which start method the run used, plus evidence on stderr of a spawned
child that failed for one of these reasons.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field

from ipcgrader import hookimpl
from ipcgrader.checks import explain
from ipcgrader.i18n import N_, _
from ipcgrader.models import Expectation, Fact
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import Diagnostic, RunRecord, Verdict
from ipcgrader.trace import crashed_children, trace_of

#: Objects that processes share only if they are passed to the child (args=...).
SHARED_FACTORIES = frozenset(
    {
        "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
        "Queue", "SimpleQueue", "JoinableQueue", "Pipe", "Value", "Array", "Manager",
    }
)  # fmt: skip
CREATORS = frozenset({"Process", "Pool", "ProcessPoolExecutor"})
#: Crash kinds (ipcgrader.tracebacks.PITFALLS) that only the spawn start method causes.
SPAWN_ONLY = frozenset({"no_main_guard", "lost_before_start", "not_picklable", "thread_lock"})
WHY = N_(
    "This only works with the fork start method: it breaks on macOS and Windows, and on "
    "Linux from Python 3.14 on, where the default start method is no longer fork."
)
_RUNTIME = (
    ("finished its bootstrapping phase", N_("a child process tried to start processes while "
     "importing your module: process creation must be inside `if __name__ == \"__main__\":`")),
    ("Can't get attribute", N_("a child process could not find its target function in your "
     "module: define it at the top level, not under `if __name__ == \"__main__\":`")),
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One way the source depends on fork."""

    file: str
    line: int
    message: str


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _main_guard(test: ast.expr) -> bool | None:
    """True for ``__name__ == "__main__"``, False for ``!=``, None for anything else."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    sides = [test.left, test.comparators[0]]
    names = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    if not (names and main):
        return None
    if isinstance(test.ops[0], ast.Eq):
        return True
    return False if isinstance(test.ops[0], ast.NotEq) else None


def _statements(body: list[ast.stmt], guarded: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements with whether only the main process runs them."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            kind = _main_guard(stmt.test)
            yield from _statements(stmt.body, guarded or kind is True)
            yield from _statements(stmt.orelse, guarded or kind is False)
        elif isinstance(stmt, (ast.For, ast.While, ast.With, ast.Try)):
            yield stmt, guarded
            for field in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(stmt, field, []), guarded)
            for handler in getattr(stmt, "handlers", []):
                yield from _statements(handler.body, guarded)
        else:
            yield stmt, guarded


def _own_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Nodes of a statement, not descending into nested statements of compound ones."""
    if isinstance(stmt, (ast.For, ast.While, ast.With, ast.Try)):
        heads: list[ast.AST] = []
        if isinstance(stmt, ast.For):
            heads = [stmt.iter]
        elif isinstance(stmt, ast.While):
            heads = [stmt.test]
        elif isinstance(stmt, ast.With):
            heads = list(stmt.items)
        for head in heads:
            yield from ast.walk(head)
    else:
        yield from ast.walk(stmt)


class _Module:
    """What one source file binds at import, under the guard, and what runs in children."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.guarded_defs: dict[str, int] = {}
        self.shared: dict[str, tuple[int, str]] = {}  # name -> (line, factory)
        self.unguarded_names: set[str] = set()
        self.guarded_names: dict[str, int] = {}
        self.statements = list(_statements(tree.body, False))
        for stmt, guarded in self.statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if guarded:
                    self.guarded_defs.setdefault(stmt.name, stmt.lineno)
                elif not isinstance(stmt, ast.ClassDef):
                    self.functions[stmt.name] = stmt
                if not guarded:
                    self.unguarded_names.add(stmt.name)
                continue
            for name, value in _bindings(stmt):
                if guarded:
                    self.guarded_names.setdefault(name, stmt.lineno)
                    continue
                self.unguarded_names.add(name)
                factory = _call_name(value) if value is not None else None
                if factory in SHARED_FACTORIES:
                    self.shared[name] = (stmt.lineno, factory or "")
        self.creating = self._creating_functions()
        #: functions defined inside other functions (a target no spawned child can find)
        self.nested_defs = {
            inner.name
            for func in self.functions.values()
            for inner in ast.walk(func)
            if inner is not func and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef))
        }

    def _creating_functions(self) -> set[str]:
        creating: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, func in self.functions.items():
                if name not in creating and any(
                    self.creates(node, creating) for node in ast.walk(func)
                ):
                    creating.add(name)
                    changed = True
        return creating

    @staticmethod
    def creates(node: ast.AST, creating: set[str]) -> bool:
        """Whether ``node`` starts processes: a Process/Pool, ``x.start()``, or a call of
        a function that does."""
        name = _call_name(node)
        if name in CREATORS or name in creating:
            return True
        return name == "start" and isinstance(node, ast.Call) and not node.args

    def child_functions(self) -> dict[str, int]:
        """Functions that run in child processes: targets, and what they call (by name)."""
        targets: dict[str, int] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and _call_name(node) in CREATORS:
                for keyword in node.keywords:
                    if keyword.arg in ("target", "initializer") and isinstance(
                        keyword.value, ast.Name
                    ):
                        targets.setdefault(keyword.value.id, node.lineno)
        frontier = list(targets)
        while frontier:
            func = self.functions.get(frontier.pop())
            for node in ast.walk(func) if func else ():
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                callee = node.func.id
                if callee in self.functions and callee not in targets:
                    targets[callee] = node.lineno
                    frontier.append(callee)
        return targets


def _bindings(stmt: ast.stmt) -> Iterator[tuple[str, ast.expr | None]]:
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                yield target.id, stmt.value
            elif isinstance(target, (ast.Tuple, ast.List)):
                for element in target.elts:
                    if isinstance(element, ast.Name):
                        yield element.id, stmt.value  # a, b = Pipe(): both ends
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(stmt.target, ast.Name):
        yield stmt.target.id, stmt.value
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            yield (alias.asname or alias.name).split(".")[0], None
    elif isinstance(stmt, (ast.For, ast.With)):
        targets = (
            [stmt.target]
            if isinstance(stmt, ast.For)
            else [i.optional_vars for i in stmt.items if i.optional_vars is not None]
        )
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name):
                    yield node.id, None


def _globals_read(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.Name]:
    """Names a function reads that are not its parameters or locals."""
    args = func.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared = {n for node in ast.walk(func) if isinstance(node, ast.Global) for n in node.names}
    local = {
        node.id
        for node in ast.walk(func)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    } - declared
    for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
        yield from (n for n in ast.walk(default) if isinstance(n, ast.Name))
    for node in ast.walk(func):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
            continue
        if node.id not in params and node.id not in local:
            yield node


def static_findings(file: str, source: str) -> list[Finding]:
    """Every way ``source`` depends on fork, in line order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    module = _Module(tree)
    findings: list[Finding] = []
    for stmt, guarded in module.statements:
        if guarded or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if any(module.creates(node, module.creating) for node in _own_nodes(stmt)):
            findings.append(
                Finding(
                    file,
                    stmt.lineno,
                    _(
                        "processes are started here when the module is imported, outside "
                        '`if __name__ == "__main__":`; a spawned child imports your module '
                        "again and would start processes itself"
                    ),
                )
            )
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _call_name(node) in CREATORS):
            continue
        for keyword in node.keywords:
            if keyword.arg != "target":
                continue
            value = keyword.value
            nested = isinstance(value, ast.Name) and value.id in module.nested_defs
            if isinstance(value, ast.Lambda) or nested:
                what = "a lambda" if isinstance(value, ast.Lambda) else f"{value.id}()"  # type: ignore[attr-defined]
                findings.append(
                    Finding(
                        file,
                        node.lineno,
                        _(
                            "the Process at {file}:{line} runs {what}, which is not a function "
                            "at the top level of your module: under spawn the target is sent "
                            "to the child by name, and this one has none the child can find. "
                            "Define the target with def at the top level"
                        ).format(file=file, line=node.lineno, what=what),
                    )
                )
    for name, function in module.functions.items():
        calls = [node for node in ast.walk(function) if isinstance(node, ast.Call)]
        factories = [c for c in calls if _call_name(c) in SHARED_FACTORIES]
        starts = [c for c in calls if _call_name(c) == "start" and not c.args]
        if factories and starts and not any(_call_name(c) == "join" for c in calls):
            findings.append(
                Finding(
                    file,
                    starts[0].lineno,
                    _(
                        "{name}() makes a {factory}() and starts processes with it "
                        "({file}:{line}) but returns without joining them: under spawn the "
                        "{factory} is freed when {name}() returns, before the children have "
                        "received it, and they die (FileNotFoundError). Join the processes "
                        "before {name}() returns"
                    ).format(
                        name=name,
                        factory=_call_name(factories[0]),
                        file=file,
                        line=starts[0].lineno,
                    ),
                )
            )
    for name in module.child_functions():
        if name in module.guarded_defs and name not in module.unguarded_names:
            findings.append(
                Finding(
                    file,
                    module.guarded_defs[name],
                    _(
                        "{name}() runs in a child process but is defined under "
                        '`if __name__ == "__main__":` here; a spawned child does not run that '
                        "block, so it cannot find the function"
                    ).format(name=name),
                )
            )
        func = module.functions.get(name)
        if func is None:
            continue
        reported: set[str] = set()
        for use in _globals_read(func):
            if use.id in reported:
                continue
            if use.id in module.shared:
                made, factory = module.shared[use.id]
                reported.add(use.id)
                findings.append(
                    Finding(
                        file,
                        use.lineno,
                        _(
                            "{name}() runs in a child process and uses the global `{var}` "
                            "here, a {factory}() made when the module is imported ({file}, "
                            "line {made}); a spawned child imports the module again and gets "
                            "its own {factory}, not the parent's. Pass it to the process in "
                            "args=(...) and use the parameter"
                        ).format(name=name, var=use.id, factory=factory, file=file, made=made),
                    )
                )
            elif use.id in module.guarded_names and use.id not in module.unguarded_names:
                made = module.guarded_names[use.id]
                reported.add(use.id)
                findings.append(
                    Finding(
                        file,
                        use.lineno,
                        _(
                            "{name}() runs in a child process and uses `{var}` here, which is "
                            'only set under `if __name__ == "__main__":` ({file}, line {made}); '
                            "a spawned child does not run that block, so the name does not "
                            "exist there. Pass it to the process in args=(...)"
                        ).format(name=name, var=use.id, file=file, made=made),
                    )
                )
    return sorted(findings, key=lambda f: f.line)


class SpawnSafe(Expectation):
    """The program would also work with the spawn and forkserver start methods."""

    kind: Literal["spawn_safe"]
    files: list[str] = Field(
        default_factory=list,
        description="the student's files to read (list them in collect); default: every "
        "collected .py file",
    )
    default_name: ClassVar[str] = N_("works with every start method")
    #: a program that starts no process works with every start method by doing nothing
    default_needs: ClassVar[tuple[Fact, ...]] = ("workers",)
    needs_complete_run: ClassVar[bool] = False  # judged from the source and stderr
    #: the source is the same at every stop point, and what spawn breaks breaks at start()
    pass_holds_when_cut: ClassVar[bool] = True

    def evaluate(self, run: RunRecord) -> Verdict:
        """Fail with the first finding, naming the student's line, and why it matters."""
        names = self.files or [n for n in run.files if n.endswith(".py")]
        if not names:
            return Verdict(None, _("the exercise collects no student file to read"))
        findings: list[Finding] = []
        for name in names:
            data = run.files.get(name)
            if data is None:
                if self.files:
                    return Verdict(
                        None, _("{file} was not collected (add it to collect)").format(file=name)
                    )
                continue
            findings.extend(static_findings(name, data.decode("utf-8-sig", errors="replace")))
        if findings:
            diagnostics = [
                Diagnostic(
                    kind="fork_only", file=f.file, line=f.line, message=f.message, hint=_(WHY)
                )
                for f in findings
            ]
            return Verdict(False, findings[0].message, diagnostics)
        for needle, meaning in _RUNTIME:
            if needle in run.outcome.stderr:
                return Verdict(False, _("{problem}. {why}").format(problem=_(meaning), why=_(WHY)))
        # what a spawned child actually died of, when this run used spawn
        error = run.student_error
        if error is not None and error.kind in SPAWN_ONLY:
            return Verdict(False, error.message)
        trace = trace_of(run)
        if trace is not None:
            for found in explain.crashes(crashed_children(trace)):
                if found.kind in SPAWN_ONLY:
                    return Verdict(False, found.message, [found])
        return Verdict(True)


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the start-method portability kind."""
    kinds.add(SpawnSafe)
