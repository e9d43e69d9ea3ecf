"""templates/course: its workflows' own commands, run locally the way GitHub runs them.

A small stand-in for the Actions runner: ``run:`` steps go to ``bash -eo pipefail`` with
``${{ }}`` expressions substituted and ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` /
``GITHUB_WORKSPACE`` / ``RUNNER_TEMP`` pointing at files in a temp folder; ``uses:`` of
ipcgrader runs the repository's own action.yml (composite) the same way; other actions are
no-ops, except GitHub Classroom's reporter, whose input is decoded and checked. The install
steps (``id: install``) are replaced by this test's own environment. An ``ipcgrade``
wrapper on PATH logs every call, so "graded once" is checked, not assumed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import EXERCISES, ROOT, SCHEMAS, SOLUTIONS

yaml = pytest.importorskip("yaml")

TEMPLATE = ROOT / "templates" / "course"
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


class Runner:
    """Runs a workflow job's steps (and ipcgrader's composite action) locally."""

    def __init__(self, tmp: Path) -> None:
        self.workspace = tmp / "course"
        shutil.copytree(TEMPLATE, self.workspace)
        self.temp = tmp / "runner-temp"
        self.temp.mkdir()
        self.summary = tmp / "step-summary.md"
        self.summary.touch()
        self.calls = tmp / "ipcgrade-calls.log"
        bindir = tmp / "bin"
        bindir.mkdir()
        real = Path(sys.executable).parent / "ipcgrade"
        wrapper = bindir / "ipcgrade"
        wrapper.write_text(
            f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{self.calls}"\nexec "{real}" "$@"\n',
            encoding="utf-8",
        )
        wrapper.chmod(0o755)
        self.path = f"{bindir}:{Path(sys.executable).parent}:{os.environ['PATH']}"
        self.stdout: dict[str, str] = {}
        self.reported: dict[str, dict[str, Any]] = {}

    def gradings(self) -> list[str]:
        calls = self.calls.read_text(encoding="utf-8").splitlines() if self.calls.exists() else []
        return [c for c in calls if not c.startswith("report ")]

    @staticmethod
    def expand(text: str, ctx: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            found: Any = ctx
            for part in match[1].split("."):
                assert isinstance(found, dict) and part in found, f"unknown {match[1]!r}"
                found = found[part]
            return str(found)

        return _EXPR.sub(value, text)

    def _env(self, step: dict[str, Any], ctx: dict[str, Any], output: Path) -> dict[str, str]:
        env = {
            **os.environ,
            "PATH": self.path,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(self.temp),
        }
        env.update({k: self.expand(str(v), ctx) for k, v in (step.get("env") or {}).items()})
        return env

    def step(self, step: dict[str, Any], ctx: dict[str, Any]) -> tuple[bool, dict[str, str]]:
        """Run one step; its success and outputs."""
        if step.get("id") == "install":
            return True, {}
        uses = step.get("uses", "")
        if re.fullmatch(r"[^/]+/ipcgrader@\S+", uses):
            return self.action(step, ctx)
        if uses.startswith("classroom-resources/autograding-grading-reporter@"):
            env = self._env(step, ctx, self.temp / "unused")
            runners = self.expand(step["with"]["runners"], ctx).split(",")
            for runner in runners:
                encoded = env[f"{runner.strip().upper()}_RESULTS"]
                self.reported[runner] = json.loads(base64.b64decode(encoded))
            return all(r["status"] == "pass" for r in self.reported.values()), {}
        if uses:
            return True, {}  # checkout, setup-python, cache, upload-artifact
        output = self.temp / f"output-{len(self.stdout)}"
        output.touch()
        script = self.expand(step["run"], ctx)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.workspace, env=self._env(step, ctx, output),
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        self.stdout[step.get("name") or step.get("id") or script[:40]] = done.stdout + done.stderr
        outputs = dict(
            line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines() if line
        )
        return done.returncode == 0, outputs

    def steps(self, steps: list[dict[str, Any]], ctx: dict[str, Any]) -> list[bool]:
        """Run steps as a job does: after a failure only ``if: always()`` steps run."""
        ctx.setdefault("steps", {})
        results, failed = [], False
        for step in steps:
            if failed and "always()" not in str(step.get("if", "")):
                results.append(False)
                continue
            ok, outputs = self.step(step, ctx)
            if "id" in step:
                ctx["steps"][step["id"]] = {"outputs": outputs}
            failed = failed or not ok
            results.append(ok)
        return results

    def action(self, step: dict[str, Any], ctx: dict[str, Any]) -> tuple[bool, dict[str, str]]:
        spec = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
        given = {k: self.expand(str(v), ctx) for k, v in (step.get("with") or {}).items()}
        inputs = {
            name: given.get(name, str(i.get("default", ""))) for name, i in spec["inputs"].items()
        }
        assert set(given) <= set(inputs), f"unknown inputs {set(given) - set(inputs)}"
        inner: dict[str, Any] = {"inputs": inputs, "runner": ctx["runner"], "github": ctx["github"]}
        ok = all(self.steps(spec["runs"]["steps"], inner))
        outputs = {k: self.expand(v["value"], inner) for k, v in spec["outputs"].items()}
        return ok, outputs

    def job(self, workflow: Path, name: str) -> tuple[list[bool], dict[str, Any]]:
        spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        job = spec["jobs"][name]
        matrix = {k: v[0] for k, v in (job.get("strategy", {}).get("matrix") or {}).items()}
        ctx: dict[str, Any] = {
            "matrix": matrix,
            "runner": {"temp": str(self.temp)},
            "github": {"run_id": "1", "workspace": str(self.workspace), "actor": "student"},
        }
        return self.steps(job["steps"], ctx), ctx


def _validate_classroom(data: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads((SCHEMAS / "classroom-results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)


def test_the_template_exercise_is_valid_for_this_grader() -> None:
    # a snapshot of exercises/lock_ticket that a course starts from: it may lag behind the
    # grader's own copy, but it must stay an exercise this grader loads
    from ipcgrader.loader import load_exercise
    from ipcgrader.plugins import get_plugin_manager

    loaded = load_exercise(
        TEMPLATE / "exercises" / "lock_ticket", get_plugin_manager(autoload=False)
    )
    assert loaded.spec.id == "lock_ticket" and loaded.spec.scenarios


def test_feedback_workflow_writes_everything_from_one_grading(tmp_path: Path) -> None:
    import xmlschema

    runner = Runner(tmp_path)
    results, ctx = runner.job(TEMPLATE / ".github" / "workflows" / "feedback.yml", "grade")
    # checkout ok; the action fails the step (the starter loses points); artifact upload runs
    assert results == [True, False, True]
    assert len(runner.gradings()) == 1, runner.gradings()
    out = runner.stdout["Grade once, write every report from that grading"]
    assert re.search(r"^::error file=exercises/lock_ticket/ticket\.py,line=29,", out, re.M), out
    assert re.search(r"^::notice title=lock_ticket::", out, re.M)
    summary = runner.summary.read_text(encoding="utf-8")
    outputs = ctx["steps"]["grade"]["outputs"]
    assert f"{outputs['score']}/{outputs['max-score']}" in summary
    assert outputs["status"] == "failed"
    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(
        str(runner.workspace / "junit-lock_ticket.xml")
    )
    classroom = json.loads(base64.b64decode(outputs["result"]))
    _validate_classroom(classroom)
    assert sum(t["score"] for t in classroom["tests"]) == pytest.approx(float(outputs["score"]))


def test_classroom_recipe_feeds_the_reporter(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    solution = SOLUTIONS / "lock_ticket" / "ticket.py"
    shutil.copyfile(solution, runner.workspace / "exercises" / "lock_ticket" / "ticket.py")
    results, ctx = runner.job(TEMPLATE / "classroom" / "classroom.yml", "run-autograding-tests")
    # the action step never fails on points (fail-below-full-marks: "false"): the reporter
    # decides, by the status it decoded
    assert results[:2] == [True, True]
    assert len(runner.gradings()) == 1
    reported = runner.reported["lock-ticket"]
    _validate_classroom(reported)
    outputs = ctx["steps"]["lock-ticket"]["outputs"]
    statuses = {"passed": "pass", "failed": "fail", "error": "error"}
    assert reported["status"] == statuses[outputs["status"]]
    assert results[2] is (reported["status"] == "pass")
    assert reported["max_score"] == float(outputs["max-score"]) > 0
    assert sum(t["score"] for t in reported["tests"]) == pytest.approx(float(outputs["score"]))


def test_gradescope_run_autograder_writes_results_json(tmp_path: Path) -> None:
    import jsonschema

    autograder = tmp_path / "autograder"
    shutil.copytree(TEMPLATE, autograder / "source")
    shutil.copytree(SOLUTIONS / "lock_ticket", autograder / "submission")
    env = {**os.environ, "AUTOGRADER": str(autograder),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip
    script = TEMPLATE / "gradescope" / "run_autograder"
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((autograder / "results" / "results.json").read_text(encoding="utf-8"))
    schema = json.loads((SCHEMAS / "gradescope-results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, schema)
    # the points of the checks make the score (the solution's, full marks on an idle machine)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    assert sum(t["max_score"] for t in results["tests"]) > 0


@pytest.mark.slow
def test_grade_class_workflow_grades_a_class(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    subs = runner.workspace / "submissions"
    shutil.copytree(SOLUTIONS / "lock_ticket", subs / "alice")
    shutil.copytree(
        EXERCISES / "lock_ticket", subs / "bob", ignore=shutil.ignore_patterns("*.toml")
    )
    results, _ = runner.job(TEMPLATE / ".github" / "workflows" / "grade-class.yml", "grade")
    assert all(results), runner.stdout
    grades = runner.workspace / "grades"
    for name in ("report.html", "junit.xml", "grades.csv", "summary.md"):
        assert (grades / name).is_file(), name
    assert "alice" in (grades / "grades.csv").read_text(encoding="utf-8")
    assert runner.summary.read_text(encoding="utf-8").strip()
