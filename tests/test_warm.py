"""Warm runs (``ipcgrader.warm``, ``harness/zygote.py``): a program forked from the warm
interpreter sees what it would see started cold, and runs that cannot be made exactly the
same way are made cold."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipcgrader import isolation, sandbox, warm
from ipcgrader.harness import supervise
from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.pytest_plugin import marked_processes
from ipcgrader.results import RunOutcome
from ipcgrader.session import BOOTSTRAP, Options, grade

ROOT = Path(__file__).resolve().parents[1]
WARM_LEVELS = [
    level.name for level in isolation.levels() if level.available and warm.level_is_warm(level.name)
]

#: What a program can see of how its interpreter started.
PROBE = """
import gc, getpass, json, os, signal, sys, __main__
import multiprocessing as mp

def child(queue):
    import __main__ as m
    queue.put([m.__name__, m.__file__.endswith("main.py"), sys.argv[1:]])

if __name__ == "__main__":
    print(json.dumps({
        "argv": sys.argv,
        "path0": sys.path[0] == os.path.dirname(os.path.realpath(__file__)),
        "file": __main__.__file__ == os.path.join(os.getcwd(), "main.py"),
        "main": sorted(k for k in vars(__main__) if k.startswith("__")),
        "spec": __main__.__spec__ is None,
        "signals": [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGPIPE,
                    signal.SIGXFSZ, signal.SIGTERM, signal.SIGCHLD)],
        "env": sorted(k for k in os.environ if not k.startswith("IPCGRADER_RUN")),
        "home": os.environ["HOME"] == os.getcwd(),
        "user": getpass.getuser(),
        "flags": [sys.flags.isolated, sys.flags.no_site, sys.flags.dont_write_bytecode],
        "hash": hash("ipcgrader"),
        "stdout": [sys.stdout.encoding, sys.stdout.line_buffering],
        "ours": [m for m in ("zygote", "supervise", "confine") if m in sys.modules],
        "gc": [gc.isenabled(), gc.get_threshold()],
    }, sort_keys=True))
    queue = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=child, args=(queue,))
    p.start()
    print(json.dumps(queue.get(timeout=20)))
    p.join()
"""


@pytest.fixture(params=WARM_LEVELS)
def level(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def run(
    code: str,
    tmp_path: Path,
    level: str,
    runner: warm.WarmRunner | None,
    files: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> RunOutcome:
    work, meta = tmp_path / "work", tmp_path / "meta"
    for folder in (work, meta):
        folder.mkdir(parents=True, exist_ok=True)
    (work / "main.py").write_text(textwrap.dedent(code), encoding="utf-8")
    for name, text in (files or {}).items():
        (work / name).write_text(textwrap.dedent(text), encoding="utf-8")
    request = sandbox.RunRequest(
        [sys.executable, "main.py", "arg one"], work, timeout_s=30, env=dict(env or {})
    )
    outcome = sandbox.run(request, meta, level=level, warm=runner)
    assert marked_processes() == []
    return outcome


def test_a_warm_program_sees_a_cold_start(level: str, tmp_path: Path) -> None:
    cold = run(PROBE, tmp_path / "cold", level, None)
    with sandbox.warm_runner() as runner:
        hot = run(PROBE, tmp_path / "warm", level, runner)
    assert (cold.warm, hot.warm) == (False, True)
    assert cold.reason is None and hot.reason is None, (cold.stderr, hot.stderr)
    assert hot.stdout == cold.stdout
    seen, child = map(json.loads, hot.stdout.splitlines())
    assert seen["argv"] == ["main.py", "arg one"] and seen["path0"] and seen["file"]
    assert seen["ours"] == []
    assert child == ["__mp_main__", True, ["arg one"]]


def test_errors_and_exits_are_reported_as_python_does(level: str, tmp_path: Path) -> None:
    programs = {
        "raise": "def f():\n    raise ValueError('no')\nf()\n",
        "exit": "import sys\nsys.exit('bye')\n",
        "syntax": "def f(:\n",
    }
    with sandbox.warm_runner() as runner:
        for name, code in programs.items():
            cold = run(code, tmp_path / name / "cold", level, None)
            hot = run(code, tmp_path / name / "warm", level, runner)
            assert hot.warm
            assert (hot.returncode, hot.reason) == (cold.returncode, cold.reason) == (1, "exit")
            folder = str(tmp_path / name / "warm" / "work")
            assert hot.stderr.replace(folder, "") == cold.stderr.replace(
                str(tmp_path / name / "cold" / "work"), ""
            ), name


def test_a_warm_run_needs_no_wrapper_command(
    level: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a cold run is started through the level's wrapper: asking for it (at bwrap, a
    warm run is configured as at namespaces) would probe unshare for nothing."""

    def no_wrapper(*args: object) -> list[str]:
        raise AssertionError("a warm run asked for a wrapper command")

    monkeypatch.setattr(isolation, "wrapper", no_wrapper)
    with sandbox.warm_runner() as runner:
        outcome = run("print('ok')\n", tmp_path, level, runner)
    assert outcome.warm and outcome.stdout == "ok\n", outcome.stderr


def test_the_zygote_compiles_the_bootstrap_once_under_the_name_runs_use() -> None:
    from ipcgrader.harness import zygote

    zygote._compile_own_scripts()
    path = str(BOOTSTRAP)
    source, code = zygote._COMPILED[path]
    assert source == BOOTSTRAP.read_bytes()
    assert code.co_filename == path and code.co_code == compile(source, path, "exec").co_code


def test_a_students_file_shadows_what_the_zygote_imported(level: str, tmp_path: Path) -> None:
    """``json.py`` and ``supervise.py`` of the student's are the ones imported."""
    code = "import json, supervise\nprint(json.MINE, supervise.MINE)\n"
    files = {"json.py": "MINE = 'json'\n", "supervise.py": "MINE = 'supervise'\n"}
    with sandbox.warm_runner() as runner:
        outcome = run(code, tmp_path, level, runner, files)
    assert outcome.warm
    assert outcome.stdout.split() == ["json", "supervise"], outcome.stderr


def test_runs_that_start_differently_get_their_own_zygote(level: str, tmp_path: Path) -> None:
    with sandbox.warm_runner() as runner:
        first = run("print(hash('x'))", tmp_path / "a", level, runner)
        other = run("print(hash('x'))", tmp_path / "b", level, runner, env={"PYTHONHASHSEED": "7"})
        again = run("print(hash('x'))", tmp_path / "c", level, runner)
        zygotes = len(runner._zygotes)
    assert (first.warm, other.warm, again.warm) == (True, True, True)
    assert first.stdout == again.stdout != other.stdout
    assert zygotes == 2


def test_beyond_its_zygotes_a_runner_runs_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warm.WarmRunner, "MAX_ZYGOTES", 1)
    with sandbox.warm_runner() as runner:
        first = run("print(hash('x'))", tmp_path / "a", "basic", runner)
        other = run(
            "print(hash('x'))", tmp_path / "b", "basic", runner, {}, {"PYTHONHASHSEED": "7"}
        )
    assert (first.warm, other.warm) == (True, False)
    assert first.stdout != other.stdout


def test_a_zygote_that_died_between_runs_is_replaced(tmp_path: Path) -> None:
    """A runner shared by a batch outlives a zygote killed from outside."""
    with sandbox.warm_runner() as runner:
        first = run("print('one')", tmp_path / "a", "basic", runner)
        (zygote,) = runner._zygotes.values()
        zygote.proc.kill()
        zygote.proc.wait()
        second = run("print('two')", tmp_path / "b", "basic", runner)
        (replaced,) = runner._zygotes.values()
    assert (first.warm, second.warm) == (True, True)
    assert second.stdout == "two\n" and replaced is not zygote


class _Recorded(warm.WarmRunner):
    """A runner that counts its closes (it starts nothing until a run is asked of it)."""

    def __init__(self) -> None:
        super().__init__(sandbox.HARNESS_DIR)
        self.closes = 0

    def close(self) -> None:
        self.closes += 1
        super().close()


def test_a_kept_runner_is_shared_and_one_that_broke_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Dask worker's runner: one for every grading, never trusted again once broken,
    closed when the last grading using it ends; after close, each grading has its own."""
    monkeypatch.delenv(warm.ENV_VAR, raising=False)
    keeper = warm.KeptRunner(_Recorded)
    with keeper.lease() as first, keeper.lease() as second:
        assert second is first
        first.give_up()  # e.g. a warm run failed before the student's program started
        with keeper.lease() as third:
            assert third is not first and not third.broken
        assert first.closes == 0  # two gradings still use it
    assert first.closes == 1 and third.closes == 0
    with keeper.lease() as fourth:
        assert fourth is third
    keeper.close()
    assert third.closes == 1
    with keeper.lease() as late:
        assert late not in (first, third)
    assert late.closes == 1
    assert keeper.report() == {"runners": 2, "gradings": 5, "launched": 0, "forked": 0}


def test_every_run_of_a_grading_is_warm(level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(isolation.ENV_VAR, level)
    pm = get_plugin_manager(autoload=False)
    loaded = load_exercise(ROOT / "exercises" / "lock_ticket", pm)
    records: list[object] = []
    # a generous timeout: this is about how runs are made, not about their speed under load
    options = Options(timeout=30)
    result = grade(loaded, ROOT / "solutions" / "lock_ticket", pm, options, records.append)
    assert result.score == result.max_score
    assert records and all(r.outcome.warm for r in records)  # type: ignore[attr-defined]


def test_warm_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(warm.ENV_VAR, "0")
    with sandbox.warm_runner() as runner:
        outcome = run("print('hi')", tmp_path, "basic", runner)
    assert outcome.stdout == "hi\n" and not outcome.warm


#: What a spawn child sees of how it started, with what its parent changed first.
SPAWN_PROBE = """
import json, os, resource, signal, sys
import multiprocessing as mp

def child(queue, fail):
    if fail:
        raise ValueError("from the child")
    queue.put({
        "parent": os.getppid() == int(os.environ["PARENT"]),
        "group": os.getpgid(0) == os.getpgid(os.getppid()),
        "argv": sys.argv, "orig": sys.orig_argv[1:], "name": __name__,
        "path": [os.path.basename(sys.path[0]), sys.path[1]],
        "cwd": os.path.basename(os.getcwd()), "umask": os.umask(0o22),
        "signals": [str(signal.getsignal(s)) for s in (signal.SIGTERM, signal.SIGUSR1,
                    signal.SIGINT, signal.SIGPIPE)],
        "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "nice": os.nice(0),
        "fds": sorted(os.listdir("/proc/self/fd")), "env": os.environ.get("SET_LATER"),
        "exec": b"spawn_main" in open("/proc/self/cmdline", "rb").read(),
    })

if __name__ == "__main__":
    os.environ["SET_LATER"], os.environ["PARENT"] = "yes", str(os.getpid())
    os.mkdir("sub")
    os.chdir("sub")
    os.umask(0o077)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    os.nice(1)
    try:
        os.wait()
    except ChildProcessError:
        print("no child to wait for")
    mp.set_start_method("spawn")
    queue = mp.Queue()
    for fail in (False, True):
        p = mp.Process(target=child, args=(queue, fail))
        p.start()
        p.join()
        print(p.exitcode)
    seen = queue.get(timeout=20)
    made = seen.pop("exec")
    print(json.dumps(seen, sort_keys=True))
    sys.stderr.write("exec\\n" if made else "template\\n")
"""


def test_a_spawn_child_from_the_template_sees_an_exec(level: str, tmp_path: Path) -> None:
    """Under a grader-forced spawn, a warm run's spawn children come from its template
    (not exec), and see what exec would have given them after their parent's changes."""
    env = {"IPCGRADER_START_METHOD": "spawn"}
    cold = run(SPAWN_PROBE, tmp_path / "cold", level, None, env=env)
    with sandbox.warm_runner() as runner:
        hot = run(SPAWN_PROBE, tmp_path / "warm", level, runner, env=env)
    assert (cold.warm, hot.warm) == (False, True)
    assert hot.stdout == cold.stdout, (hot.stderr, cold.stderr)
    assert hot.stdout.splitlines()[:3] == ["no child to wait for", "0", "1"]
    # The peak is sampled, so a short-lived child may be missed either way: what cannot
    # flip is its bound (main, the resource tracker, one child at a time; the template is
    # never counted) and that nothing is left over, the template included.
    assert max(hot.peak_processes, cold.peak_processes) <= 3
    assert (hot.leftovers, cold.leftovers) == (0, 0)
    folder = str(tmp_path / "warm" / "work")
    made = hot.stderr.replace(folder, "F").replace("template\n", "exec\n")
    assert made == cold.stderr.replace(str(tmp_path / "cold" / "work"), "F")
    assert "ValueError: from the child" in hot.stderr
    assert cold.stderr.endswith("exec\n") and hot.stderr.endswith("template\n")


def test_a_prestarted_zygote_makes_the_usual_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zygote a command starts first thing is the one its runs are forked from."""
    monkeypatch.setenv(isolation.ENV_VAR, "basic")
    with sandbox.prestarted_runner() as runner:
        assert len(runner._zygotes) == 1
        plugin_env = {"PYTHONPATH": str(sandbox.INJECT_DIR)}  # as the harness plugin sets it
        outcome = run("print('hi')", tmp_path, "basic", runner, env=plugin_env)
        assert len(runner._zygotes) == 1
    assert outcome.warm and outcome.stdout == "hi\n", outcome.stderr


#: Two children that start (under the start method given) and sleep a moment.
CHILDREN = """
import multiprocessing as mp, sys, time
if __name__ == "__main__":
    mp.set_start_method(sys.argv[1])
    children = [mp.Process(target=time.sleep, args=(0.3,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join()
"""


def test_a_runs_cpu_budget_allows_each_interpreter_it_started_afresh_its_start_up(
    tmp_path: Path,
) -> None:
    """Warm, none is: under spawn the template makes the children and the resource tracker
    too. Cold, each is: the main process, the resource tracker and the two children."""
    budget = sandbox.DEFAULT_LIMITS.run_cpu_s
    assert budget is not None
    warm._cold_startups.clear()
    with sandbox.warm_runner() as runner:
        outcomes = {}
        for method, made_by in (("fork", runner), ("spawn", runner), ("cold spawn", None)):
            work, meta = tmp_path / method / "work", tmp_path / method / "meta"
            work.mkdir(parents=True)
            meta.mkdir()
            (work / "main.py").write_text(CHILDREN, encoding="utf-8")
            start = method.split()[-1]
            env = {sandbox.START_METHOD_ENV: start}
            request = sandbox.RunRequest([sys.executable, "main.py", start], work, 30, env=env)
            outcomes[method] = sandbox.run(request, meta, level="basic", warm=made_by)
        (zygote,) = runner._zygotes.values()
    (cold,) = warm._cold_startups.values()  # measured once, for the cold run
    assert zygote.startup_cpu > 0 and cold > 0
    assert [o.warm for o in outcomes.values()] == [True, True, False]
    assert all(o.ok for o in outcomes.values()), outcomes
    assert outcomes["fork"].cpu_budget_s == outcomes["spawn"].cpu_budget_s == budget
    assert outcomes["cold spawn"].cpu_budget_s == supervise.run_budget(budget, cold, 4)
