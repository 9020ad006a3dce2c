"""Bad input gets exit 2 and a message naming the file, line and what to do; torn records and lone surrogates lose nothing."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from lume_widget.cli import main
from lume_widget.evaluation import evaluate_async, yaml_source
from lume_widget.evaluation import scenarios as scenarios_module
from lume_widget.evaluation.html_report import write_report
from lume_widget.evaluation.records import TranscriptWriter, TurnRecord, read_records
from lume_widget.evaluation.report import summarize, write_summary
from lume_widget.evaluation.scenarios import MAX_FILE_BYTES, MAX_YAML_NODES
from lume_widget.server import ReferenceServer

GOOD = "scenarios:\n  - name: hello\n    turns: [{say: 'Hello there'}]\n"

BILLION_LAUGHS = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
scenarios: *i
"""


def eval_exit(tmp_path: Path, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["eval", str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    return code, capsys.readouterr().err


def test_bad_input_alias_bomb_is_refused_not_expanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    code, err = eval_exit(tmp_path, path, capsys)
    assert code == 2
    assert f"aliases (*name) expand to more than {MAX_YAML_NODES:,} values" in err
    assert str(path) in err


def test_bad_input_self_referring_alias_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("defaults: &d\n  persona: nutritionist\n  loop: *d\n" + GOOD)
    code, err = eval_exit(tmp_path, path, capsys)
    assert code == 2
    assert "loop.yaml:1:11: this anchor is used inside itself" in err


def test_bad_input_small_aliases_still_work() -> None:
    text = "scenarios:\n  - {name: a, turns: &t [{say: 'Hello there'}]}\n  - {name: b, turns: *t}\n"
    parsed = scenarios_module.parse_scenarios(text)
    assert [s.name for s in parsed.scenarios] == ["a", "b"]


def test_bad_input_not_utf8_names_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"scenarios:\n  - name: caf\xe9\n    turns: [{say: hi}]\n")
    code, err = eval_exit(tmp_path, path, capsys)
    assert code == 2
    assert "latin1.yaml:2:14: byte 0xe9 is not UTF-8; save the file as UTF-8" in err


def test_bad_input_huge_file_is_refused_past_the_documented_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "#" * (MAX_FILE_BYTES + 1))
    code, err = eval_exit(tmp_path, path, capsys)
    assert code == 2
    assert "over the limit of 2,097,152 (2 MiB)" in err


def test_bad_input_scenarios_are_parsed_with_libyaml_when_present() -> None:
    if getattr(yaml, "__with_libyaml__", False):
        assert yaml_source.LOADER is yaml.CSafeLoader
    else:
        assert yaml_source.LOADER is yaml.SafeLoader


def test_bad_input_out_naming_a_file_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    taken = tmp_path / "taken"
    taken.write_text("not a directory")
    assert main(["eval", str(path), "--out", str(taken), "--no-progress"]) == 2
    assert f"--out {taken} is a file" in capsys.readouterr().err
    assert taken.read_text() == "not a directory"


def test_bad_input_scenario_path_that_is_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = eval_exit(tmp_path, tmp_path, capsys)
    assert code == 2
    assert "this is a directory" in err


def record(**fields: Any) -> TurnRecord:
    values: dict[str, Any] = {"scenario": "hello", "repeat": 0, "persona": "general_wellness"}
    values.update({"turn": 0, "say": "Hello there", "passed": True, "last": True})
    values.update(fields)
    return TurnRecord(**values)


def test_bad_input_torn_and_foreign_lines_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "transcripts.jsonl"
    good = json.dumps(record().to_dict(), ensure_ascii=False)
    torn = json.dumps(record(reply="café ☕").to_dict(), ensure_ascii=False).encode()
    cut = torn[: torn.index("☕".encode()) + 1]  # mid-character
    path.write_bytes(
        b"\n".join(
            [good.encode(), b"null", b"[]", b'{"other": "tool"}', b'{"scenario": 3}', b"", cut]
        )
    )
    caplog.set_level(logging.WARNING)
    records = read_records(path)
    assert len(records) == 1
    assert len([r for r in caplog.records if "skipping unreadable line" in r.message]) == 5


async def test_bad_input_resume_skips_torn_lines_and_reruns_that_conversation(
    reference_server: ReferenceServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("name: hello", "name: hello\n    repeat: 2"))
    out = tmp_path / "run"
    options = {
        "url": reference_server.url,
        "api_key": reference_server.api_key,
        "email": reference_server.email,
        "password": reference_server.password,
        "progress": False,
    }
    first = await evaluate_async(path, out=out, **options)
    transcripts = out / "transcripts.jsonl"
    lines = transcripts.read_bytes().splitlines()
    transcripts.write_bytes(lines[0] + b"\nnull\n[]\n" + lines[1][: len(lines[1]) // 2])
    caplog.set_level(logging.WARNING)
    resumed = await evaluate_async(path, out=out, resume=True, **options)
    assert resumed.passed
    assert resumed.summary["run"]["resumed_conversations"] == 1
    assert len(resumed.records) == len(first.records) == 2
    assert sum("skipping unreadable line" in r.message for r in caplog.records) == 3
    assert len(read_records(transcripts)) == 2


def test_bad_input_lone_surrogates_never_crash_the_writers(tmp_path: Path) -> None:
    broken = record(reply="half a pair: \ud83d and more", say="\udc00hi", failures=["\ud800"])
    writer = TranscriptWriter(tmp_path / "transcripts.jsonl")
    writer.write(broken)
    writer.close()
    text = (tmp_path / "transcripts.jsonl").read_bytes().decode("utf-8")
    assert "half a pair: \ufffd and more" in json.loads(text)["reply"]
    [back] = read_records(tmp_path / "transcripts.jsonl")
    assert back.say == "\ufffdhi"
    summary = summarize([broken])
    write_summary(tmp_path, summary)
    assert "\ufffd" in (tmp_path / "summary.json").read_text(encoding="utf-8")
    write_report(tmp_path, [broken], summary)
    assert "half a pair: \ufffd and more" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "judge: {url: 'http://127.0.0.1:9/v1', modle: m}\n" + GOOD,
            "s.yaml:1:39: judge.modle: unknown key 'modle' (expected one of: url, model,"
            " timeout_s, concurrency)",
        ),
        (
            "scenarios:\n  - name: a\n    simulated_user: {persona: p, max_turn: 3}\n",
            "s.yaml:3:34: scenarios[0].simulated_user.max_turn: unknown key 'max_turn'"
            " (expected one of: persona, opening, max_turns, stop_when)",
        ),
        (
            "scenarios:\n  - name: a\n    turns: [{say: hi, expect: {rubric: {criterion: x}}}]\n",
            "s.yaml:3:41: scenarios[0].turns[0].expect.rubric.criterion: unknown key 'criterion'"
            " (expected one of: criteria, threshold)",
        ),
        (
            "scenarios:\n  - name: a\n    turns: [{say: hi, expect: {rubric: {criteria: x,"
            " threshold: 2}}}]\n",
            "s.yaml:3:65: scenarios[0].turns[0].expect.rubric.threshold: Input should be less"
            " than or equal to 1",
        ),
        (
            "scenarios:\n  - name: a\n",
            "s.yaml:2:5: scenarios[0]: give the scenario 'turns' (a script) or 'simulated_user'",
        ),
        (
            "scenarios:\n  - name: a\n    turns: [{say: hi}]\n    simulated_user: {persona: p}\n",
            "s.yaml:2:5: scenarios[0]: a scenario has either 'turns' or 'simulated_user', not both",
        ),
    ],
)
def test_bad_input_new_sections_name_the_line_and_the_keys_they_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    code, err = eval_exit(tmp_path, path, capsys)
    assert code == 2
    assert expected in " ".join(err.split()), err
