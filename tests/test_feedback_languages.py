"""Feedback a student can act on, in Chinese or English (issue 12).

Each shipped exercise's starter is graded once; its report is then rendered in both
languages from the same result (what ``ipcgrade report --lang`` does), and checked against
the catalogs: no English sentence of the grader's or of the exercise's in Chinese, no
Chinese of the grader's in English. The lock_ticket report says each finding once, shows
no run tags, and fits 80 columns. Encodings people actually have are handled.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from ipcgrader import i18n
from ipcgrader.cli import main
from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.reporters.terminal import TerminalReporter
from ipcgrader.results import ExerciseResult
from ipcgrader.session import Options, grade
from ipcgrader.submission import foreign_encoding
from ipcgrader.textwidth import width, wrap

from conftest import EXERCISES, ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SHIPPED = sorted(p.parent.name for p in EXERCISES.glob("*/exercise.toml"))
PO = ROOT / "src" / "ipcgrader" / "locale" / "zh" / "LC_MESSAGES" / "ipcgrader.po"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_CJK = re.compile(r"[\u4e00-\u9fff][\u4e00-\u9fff，。：；、（）“”]{5,}")


def _pairs() -> list[tuple[str, str]]:
    """(English, Chinese) of every grader message and every exercise text."""
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    pairs: list[tuple[str, str]] = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        pairs.extend((en, strings[0]) for en in ids)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if set(node) == {"en", "zh"} and all(isinstance(v, str) for v in node.values()):
                pairs.append((node["en"], node["zh"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in SHIPPED:
        walk(tomllib.loads((EXERCISES / name / "exercise.toml").read_text(encoding="utf-8")))
    return pairs


def _english_fragments(pairs: list[tuple[str, str]]) -> set[str]:
    """Runs of three or more English words of a message, between its placeholders, that
    its translation does not keep (code in a hint is the same in both)."""
    found = set()
    for en, zh in pairs:
        for piece in _PLACEHOLDER.split(en):
            words = re.findall(r"[A-Za-z]+(?:'[a-z]+)?", piece)
            text = piece.strip(" .,:;()")
            if len(words) >= 3 and text not in zh and " " in text:
                found.add(text)
    return found


def _chinese_fragments(pairs: list[tuple[str, str]]) -> set[str]:
    """Runs of Chinese of a translation that the English original does not contain."""
    return {run for en, zh in pairs for run in _CJK.findall(zh) if run not in en}


_TEXT_KEYS = {"name", "message", "hint", "title", "consequence"}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_text_of_a_shipped_exercise_is_in_both_languages(name: str) -> None:
    spec = tomllib.loads((EXERCISES / name / "exercise.toml").read_text(encoding="utf-8"))
    plain: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _TEXT_KEYS and isinstance(value, str):
                    plain.append(f"{path}.{key}")
                elif key in _TEXT_KEYS and isinstance(value, dict):
                    assert set(value) == {"en", "zh"}, f"{path}.{key}: give en and zh"
                else:
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(spec, name)
    assert not plain, f"give these as {{ en = ..., zh = ... }}: {plain}"


@pytest.mark.parametrize("name", SHIPPED)
def test_no_two_checks_of_a_scenario_share_a_name(name: str) -> None:
    spec = load_exercise(EXERCISES / name, get_plugin_manager(autoload=False)).spec
    for scenario in spec.scenarios:
        titles = [str(e.title()) for e in scenario.expect]
        assert len(titles) == len(set(titles)), f"{name}/{scenario.id}: {titles}"


@pytest.fixture(scope="module")
def starters() -> dict[str, ExerciseResult]:
    pm = get_plugin_manager(autoload=False)
    graded = {}
    for name in SHIPPED:
        loaded = load_exercise(EXERCISES / name, pm)
        graded[name] = grade(loaded, loaded.directory, pm, Options(timeout=5.0))
    return graded


def _report(result: ExerciseResult, lang: str) -> str:
    with i18n.use_language(lang):
        return TerminalReporter().render(result.in_language(lang))


@pytest.mark.parametrize("name", SHIPPED)
def test_starter_report_is_all_chinese_or_all_english(
    starters: dict[str, ExerciseResult], name: str
) -> None:
    pairs = _pairs()
    zh = " ".join(_report(starters[name], "zh").split())
    en = _report(starters[name], "en")
    english = sorted(f for f in _english_fragments(pairs) if f in zh)
    assert not english, f"English in the Chinese report of {name}: {english}"
    chinese = sorted(f for f in _chinese_fragments(pairs) if f in en)
    assert not chinese, f"the grader's Chinese in the English report of {name}: {chinese}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lock_ticket_report_says_each_finding_once_without_run_tags_in_80_columns(
    starters: dict[str, ExerciseResult], lang: str
) -> None:
    result = starters["lock_ticket"].in_language(lang)
    with i18n.use_language(lang):
        text = TerminalReporter().render(result)
    assert result.diagnostics
    flat = "".join(text.split())
    for finding in result.diagnostics:
        assert flat.count("".join(finding.message.split())) == 1, finding.message
    assert "[last-ticket" not in text and "runs]" not in text and "fork;" not in text
    too_wide = [line for line in text.splitlines() if width(line) > 80]
    assert not too_wide


def test_chinese_from_the_environment_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LANG=zh_CN.UTF-8 without --lang speaks Chinese; a GBK file is told to be saved as
    UTF-8, with its name (no run is made: it cannot compile)."""
    source = (EXERCISES / "lock_ticket" / "ticket.py").read_text(encoding="utf-8")
    gbk = tmp_path / "ticket.py"
    gbk.write_bytes(source.encode("gbk"))
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    before = i18n.language()
    try:
        assert main([str(EXERCISES / "lock_ticket"), "--submission", str(gbk)]) == 1
    finally:
        i18n.set_language(before)
    out = capsys.readouterr().out
    assert "ticket.py 是以 GBK 编码保存的" in out and "另存为 UTF-8" in out
    assert "Save" not in out.replace("Save with", "")  # no English sentence of ours


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("print('你好')\n".encode("gbk"), "GBK"),
        ("print('你好')\n".encode("utf-16"), "UTF-16"),
        ("print('你好')\n".encode("utf-16-le"), "UTF-16"),
        (b"\xef\xbb\xbf" + "print('你好')\n".encode(), None),
        ("print('你好')\n".encode(), None),
        ("# -*- coding: gbk -*-\nprint('你好')\n".encode("gbk"), None),
    ],
)
def test_foreign_encodings_are_named(data: bytes, expected: str | None) -> None:
    assert foreign_encoding(data) == expected


def test_exercise_toml_with_a_bom_loads(tmp_path: Path) -> None:
    folder = tmp_path / "lock_ticket"
    shutil.copytree(EXERCISES / "lock_ticket", folder)
    spec = folder / "exercise.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + spec.read_bytes())
    assert load_exercise(folder, get_plugin_manager(autoload=False)).spec.id == "lock_ticket"


def test_wrapping_counts_cjk_as_two_columns() -> None:
    text = (
        "ticket.json 在第 24 行读取、在第 29 行写回，"
        "期间没有持有任何锁，其他进程可以在这之间做同样的事。"
    )
    lines = wrap(text, 30, "  1. ", "     ")
    assert len(lines) > 2 and all(width(line) <= 30 for line in lines)
    assert "".join(line.strip() for line in lines).replace(" ", "") == ("1." + text).replace(
        " ", ""
    )
    assert not any(line.lstrip().startswith("，") for line in lines)
