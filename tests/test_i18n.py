"""Messages in two languages: the catalogs are in step with the code, every message has a
Chinese translation, the compiled catalogs are current, and the language is chosen as
documented (``--lang``, then LC_ALL / LC_MESSAGES / LANG, then English)."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from ipcgrader import i18n
from ipcgrader.cli import main
from ipcgrader.reporters.json_report import JsonReporter
from ipcgrader.results import CheckResult, ExerciseResult, Status

from conftest import ROOT


def _catalog_tool() -> ModuleType:
    try:
        import babel  # noqa: F401
    except ImportError:  # fail, not skip: a skipped check lets untranslated messages land
        pytest.fail("Babel is missing: pip install -e '.[test]' (it checks the catalogs)")
    spec = importlib.util.spec_from_file_location("catalogs", ROOT / "tools" / "catalogs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["catalogs"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalogs() -> ModuleType:
    return _catalog_tool()


def test_catalogs_are_current_and_translated(catalogs: ModuleType) -> None:
    problems = [p for lang in catalogs.TRANSLATED for p in catalogs.problems(lang)]
    assert not problems, (
        "message catalogs are stale or incomplete; run `python tools/catalogs.py`, translate "
        "the empty msgstr entries in src/ipcgrader/locale/zh/LC_MESSAGES/ipcgrader.po, and run "
        "it again (docs/i18n.md):\n  " + "\n  ".join(problems)
    )


def test_the_check_sees_a_new_untranslated_message(catalogs: ModuleType) -> None:
    template = catalogs.extract()
    template.add("a sentence nobody translated yet {thing}", None, [("x.py", 1)])
    problems = catalogs.problems("zh", template)
    assert any("a sentence nobody translated yet" in p for p in problems)


def test_compiled_catalogs_ship_in_the_package() -> None:
    mo = Path(i18n.LOCALE_DIR) / "zh" / "LC_MESSAGES" / "ipcgrader.mo"
    assert mo.is_file()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "locale/*/LC_MESSAGES/*.mo" in pyproject


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "zh_TW", "LANG": "en_US"}, "zh"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_language_from_environment(environ: dict[str, str], expected: str) -> None:
    assert i18n.language_from_env(environ) == expected


def test_translation_and_fallback() -> None:
    before = i18n.language()
    try:
        i18n.set_language("zh")
        assert i18n._("interrupted") == "已中断"
        assert i18n._("no such message in any catalog") == "no such message in any catalog"
        i18n.set_language("en")
        assert i18n._("interrupted") == "interrupted"
    finally:
        i18n.set_language(before)


def test_use_language_is_local_to_its_thread() -> None:
    before = i18n.language()
    seen: list[str] = []
    i18n.set_language("en")
    try:
        with i18n.use_language("zh"):
            worker = threading.Thread(target=lambda: seen.append(i18n._("interrupted")))
            worker.start()
            worker.join()
            assert i18n._("interrupted") == "已中断"
        assert seen == ["interrupted"]
        assert i18n._("interrupted") == "interrupted"
    finally:
        i18n.set_language(before)


def test_unknown_lang_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    before = i18n.language()
    try:
        assert main(["--lang", "fr", "list"]) == 2
        assert "--lang" in capsys.readouterr().err
    finally:
        i18n.set_language(before)


def test_help_speaks_the_chosen_language(capsys: pytest.CaptureFixture[str]) -> None:
    before = i18n.language()
    try:
        assert main(["list", "--lang", "zh", "--help"]) == 0
        assert "消息语言" in capsys.readouterr().out
    finally:
        i18n.set_language(before)


def test_a_stored_result_is_rendered_again_in_another_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = i18n.language()
    try:
        i18n.set_language("en")
        check = CheckResult(
            id="s.finishes",
            name=i18n.localized({"en": "1 ticket: finishes", "zh": "1 张票：按时结束"}),
            status=Status.error,
            score=0,
            max_score=1,
            message=i18n._("{exercise}: {kind}").format(
                exercise="lock_ticket", kind=i18n._("interrupted")
            ),
        )
        result = ExerciseResult(
            exercise="lock_ticket",
            submission="ticket.py",
            status=Status.failed,
            score=0,
            max_score=1,
            duration_s=0.1,
            checks=[check],
        )
        stored = tmp_path / "result.json"
        stored.write_text(JsonReporter().render(result), encoding="utf-8")
        assert main(["report", str(stored), "--lang", "zh", "--format", "json"]) == 0
        again = json.loads(capsys.readouterr().out)["checks"][0]
        assert again["name"] == "1 张票：按时结束"
        assert again["message"] == "lock_ticket：已中断"
        assert main(["report", str(stored), "--lang", "en"]) == 0
        assert "lock_ticket: interrupted" in capsys.readouterr().out
        # a result stored by an older grader (no sources) is shown as stored
        plain = json.loads(stored.read_text(encoding="utf-8"))
        del plain["checks"][0]["i18n"]
        stored.write_text(json.dumps(plain), encoding="utf-8")
        assert main(["report", str(stored), "--lang", "zh", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["checks"][0]["message"] == (
            "lock_ticket: interrupted"
        )
    finally:
        i18n.set_language(before)


def test_report_of_a_file_that_is_not_a_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"nope": 1}', encoding="utf-8")
    assert main(["report", str(bad)]) == 2
    assert "x.json" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2


def test_an_edit_of_the_values_holds_in_every_language() -> None:
    """A finding renamed to the file as handed in says the new name in any language."""
    before = i18n.language()
    try:
        i18n.set_language("en")
        text = i18n._("{file} is missing").format(file="ticket.py")
        assert isinstance(text, i18n.Text)
        renamed = i18n.map_values(text.source, lambda v: v.replace("ticket.py", "mine.py"))
        with i18n.use_language("zh"):
            assert i18n.render(renamed) == "缺少 mine.py"
        assert renamed["msg"] == "{file} is missing"  # the message id is never changed
    finally:
        i18n.set_language(before)
