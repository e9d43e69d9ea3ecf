"""Every known variant under tests/submissions/<exercise>/ gets its expected verdict.

The manifest of each exercise is ``expected.toml`` (format: ipcgrader.selftest, the same
``ipcgrade check --variants`` reads).
Variants run with their exercise's own timeouts unless the manifest gives one (short for
variants that hang, so they cost little; never short for ones that must finish: on a busy
2-core machine a correct spawn run can take seconds).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main
from ipcgrader.selftest import MANIFEST, Variant, differences, read_manifest

from conftest import EXERCISES, SOLUTIONS, SUBMISSIONS


def _cases() -> list[Any]:
    cases = []
    for manifest in sorted(SUBMISSIONS.glob(f"*/{MANIFEST}")):
        exercise = manifest.parent.name
        for variant in read_manifest(manifest.parent):
            marks = []
            if variant.expected.waiting:
                marks.append(pytest.mark.xfail(reason=variant.expected.waiting, strict=False))
            cases.append(
                pytest.param(exercise, variant, id=f"{exercise}/{variant.name}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("exercise", "variant"), _cases())
def test_variant_verdict(ipcgrade: Any, exercise: str, variant: Variant) -> None:
    # judged by the same code as `ipcgrade check` (ipcgrader.selftest)
    timeout = variant.expected.timeout  # None: the exercise's own
    result = ipcgrade(EXERCISES / exercise, variant.path, timeout=timeout)
    summary = "\n".join(f"{c.id}: {c.status.value} {c.message}" for c in result.checks)
    assert not differences(result, variant.expected), summary


def test_every_exercise_passes_its_own_check_with_its_solution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exercises = sorted(p.parent for p in EXERCISES.glob("*/exercise.toml"))
    assert exercises
    for exercise in exercises:
        solution = SOLUTIONS / exercise.name
        assert solution.is_dir(), f"no solutions/{exercise.name}"
        code = main(["check", str(exercise), "--solution", str(solution)])
        assert code == 0, capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "exercise", sorted(p.parent.name for p in SUBMISSIONS.glob(f"*/{MANIFEST}"))
)
def test_ipcgrade_check_passes_on_every_shipped_exercise(
    exercise: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", str(EXERCISES / exercise), "--solution", str(SOLUTIONS / exercise)]
    assert main([*argv, "--variants", str(SUBMISSIONS / exercise)]) == 0, capsys.readouterr().out


def test_check_fails_naming_the_variant_whose_verdict_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A temp copy of two lock_ticket variants, one manifest verdict changed."""
    variants = tmp_path / "variants"
    variants.mkdir()
    for name in ("correct_with_lock", "syntax_error"):
        shutil.copy(SUBMISSIONS / "lock_ticket" / f"{name}.py", variants)
    manifest = (
        '[correct_with_lock]\nstatus = "passed"\ntimeout = 10\n\n'
        '[syntax_error]\nstatus = "failed"\ndiagnostics = ["syntax_error"]\n'
    )
    (variants / MANIFEST).write_text(manifest, encoding="utf-8")
    argv = [
        "check",
        str(EXERCISES / "lock_ticket"),
        "--solution",
        str(SOLUTIONS / "lock_ticket"),
        "--variants",
        str(variants),
    ]
    assert main(argv) == 0, capsys.readouterr().out
    capsys.readouterr()
    (variants / MANIFEST).write_text(
        manifest.replace('status = "failed"', 'status = "passed"'), encoding="utf-8"
    )
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "✗ syntax_error" in out and "status failed, expected passed" in out, out
    assert "✓ correct_with_lock" in out


def test_check_warns_when_a_cpu_budget_is_tight_for_the_solution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exercise = tmp_path / "lock_ticket"
    shutil.copytree(EXERCISES / "lock_ticket", exercise)
    spec = exercise / "exercise.toml"
    text = spec.read_text(encoding="utf-8")
    assert "run_cpu_s = 0.4" in text
    assert "limits = { run_cpu_s = 0.6 }" in text
    # a budget no run can keep (0.05 s) and one that no run comes near (60 s), so that
    # which scenario is flagged does not depend on how much CPU this machine's runs take
    text = text.replace("run_cpu_s = 0.4", "run_cpu_s = 0.05")
    text = text.replace("limits = { run_cpu_s = 0.6 }", "limits = { run_cpu_s = 60 }")
    spec.write_text(text, encoding="utf-8")
    main(["check", str(exercise), "--solution", str(SOLUTIONS / "lock_ticket")])
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("! ")]
    assert any("scenario script:" in w and "run_cpu_s) is 0.05 s" in w for w in warnings), warnings
    # last-ticket has a budget of its own (its spawn buyers), far from tight
    assert any("scenario last-ticket:" in w for w in warnings) is False, warnings
