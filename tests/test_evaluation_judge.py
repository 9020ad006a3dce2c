"""Rubric checks judged by a local fake model against the reference server: prompts, verdicts, retries, cache, secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fake_model import Answer, FakeModel, judge_answer

from lume_widget.cli import main
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation import evaluate_async
from lume_widget.evaluation.chatmodel import (
    CACHE_DIR_NAME,
    ChatModel,
    ModelCallError,
    ModelEndpoint,
)
from lume_widget.evaluation.judge import Judge, parse_judgement, resolve_endpoints
from lume_widget.evaluation.scenarios import parse_scenarios
from lume_widget.server import ReferenceServer

KEY = "sk-judge-secret-0123456789"

SCRIPT = """
goals:
  summer: {title: "Lose 15 pounds for summer", goal_type: weight, current_value: 180,
           target_value: 165, target_unit: lbs, target_date: 2027-06-01}
scenarios:
  - name: breakfast
    persona: nutritionist
    goal: summer
    turns:
      - say: "What should I eat for breakfast?"
        expect:
          rubric: "Suggests at least one concrete breakfast."
      - say: "And for lunch?"
        expect:
          rubric: {criteria: "Stays in the nutritionist's role.", threshold: 0.8}
    conversation_expect:
      rubric: "Never gives a medical diagnosis."
"""


def credentials(server: ReferenceServer) -> dict[str, Any]:
    return {
        "url": server.url,
        "api_key": server.api_key,
        "email": server.email,
        "password": server.password,
        "progress": False,
    }


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch, model_server: FakeModel) -> FakeModel:
    monkeypatch.setenv("LUME_JUDGE_URL", model_server.url)
    monkeypatch.setenv("LUME_JUDGE_MODEL", "judge-1")
    monkeypatch.setenv("LUME_JUDGE_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model_server.respond = lambda body: judge_answer(0.9, "names oatmeal with berries")
    return model_server


def write(tmp_path: Path, text: str = SCRIPT) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_judge_sees_persona_goal_conversation_and_rubric_and_records_its_verdict(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path
) -> None:
    result = await evaluate_async(
        write(tmp_path), out=tmp_path / "runs" / "a", **credentials(reference_server)
    )
    assert result.passed, [r.failures + r.check_errors for r in result.records]
    first, second = result.records
    prompts = judged.prompts()
    assert len(prompts) == 3
    assert "nutritionist" in prompts[0]
    assert "Lose 15 pounds for summer" in prompts[0]
    assert "(from 180 to 165 lbs) by 2027-06-01" in prompts[0]
    assert "Suggests at least one concrete breakfast." in prompts[0]
    assert first.reply in prompts[0]
    assert "What should I eat for breakfast?" in prompts[0]
    assert second.reply not in prompts[0]
    # the second turn's judge sees the conversation up to the judged reply
    assert first.reply in prompts[1]
    assert second.reply in prompts[1]
    assert "Stays in the nutritionist's role." in prompts[1]
    # the conversation rubric sees every turn
    assert "Never gives a medical diagnosis." in prompts[2]
    assert "WHOLE conversation" in prompts[2]
    assert all(body["model"] == "judge-1" for body in judged.bodies)
    assert [j["check"] for j in second.judgements] == ["rubric", "conversation rubric"]
    verdict = first.judgements[0]
    assert verdict["score"] == 0.9
    assert verdict["passed"] is True
    assert verdict["reason"] == "names oatmeal with berries"
    assert verdict["model"] == "judge-1"
    assert verdict["usage"]["total_tokens"] == 60
    assert second.judgements[0]["threshold"] == 0.8
    assert first.judge_tokens == 60
    assert second.judge_tokens == 120
    summary = json.loads((tmp_path / "runs" / "a" / "summary.json").read_text())
    assert summary["usage"]["judge_tokens"] == 180
    assert summary["usage"]["judge_calls"] == 3
    assert summary["run"]["judge"]["model"] == "judge-1"


async def test_judge_low_score_fails_the_turn_quoting_the_reason(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path
) -> None:
    judged.script(judge_answer(0.7, "the lunch answer drifts into fitness"))
    judged.script(judge_answer(0.75, "mostly in role"))
    result = await evaluate_async(
        write(tmp_path), out=tmp_path / "a", **credentials(reference_server)
    )
    first, second = result.records
    assert first.outcome == "passed"  # 0.7 clears the default threshold of 0.5
    assert second.outcome == "failed"
    assert second.failures == [
        'rubric: scored 0.75, under 0.8, on "Stays in the nutritionist\'s role.";'
        " the judge says: mostly in role"
    ]
    assert result.exit_code == 1


@pytest.mark.parametrize(
    "answer",
    [
        Answer(text="I think it is pretty good!"),
        Answer(text='{"score": "high", "reason": "x"}'),
        Answer(text='{"score": 7, "reason": "out of ten"}'),
        Answer(raw="<html>oops</html>"),
        Answer(raw='{"choices": []}'),
    ],
)
async def test_judge_unreadable_answer_is_an_error_never_a_pass(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path, answer: Answer
) -> None:
    judged.respond = lambda body: answer
    result = await evaluate_async(
        write(tmp_path), out=tmp_path / "a", **credentials(reference_server)
    )
    first = result.records[0]
    assert first.outcome == "error"
    assert first.passed is None
    assert first.check_errors
    assert "rubric" in first.check_errors[0]
    assert first.judgements[0]["passed"] is None
    assert result.records[1].outcome == "error"  # the conversation went on; its checks erred too
    assert not result.passed
    assert result.summary["turns"]["error"] == 2


async def test_judge_retries_429_honouring_retry_after_then_5xx(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path
) -> None:
    judged.script(Answer(status=429, retry_after=0.3), Answer(status=503))
    result = await evaluate_async(
        write(tmp_path), out=tmp_path / "a", **credentials(reference_server)
    )
    assert result.passed
    assert len(judged.requests) == 5  # two refused, then the three checks
    first = judged.requests[0]
    again = [r for r in judged.requests[1:] if r["body"] == first["body"]]
    assert again, "the refused request was sent again"
    assert again[0]["at"] - first["at"] >= 0.3  # after the Retry-After the model asked for


async def test_judge_that_keeps_failing_or_is_too_slow_errs_the_check(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path
) -> None:
    path = write(tmp_path, "judge: {timeout_s: 0.2}\n" + SCRIPT)
    judged.respond = lambda body: Answer(text='{"score": 1}', delay_s=1.0)
    judged.script(Answer(status=401))
    result = await evaluate_async(path, out=tmp_path / "a", **credentials(reference_server))
    first, second = result.records
    assert "HTTP 401" in first.check_errors[0]
    assert len([r for r in judged.requests if r["body"]["messages"]]) >= 2
    assert "no answer within 0.2 s" in second.check_errors[0]
    assert result.summary["turns"]["error"] == 2


async def test_judge_cache_means_a_second_identical_run_asks_nothing(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path
) -> None:
    path = write(tmp_path)
    first = await evaluate_async(path, out=tmp_path / "runs" / "a", **credentials(reference_server))
    assert len(judged.requests) == 3
    assert (tmp_path / "runs" / CACHE_DIR_NAME).is_dir()
    second = await evaluate_async(
        path, out=tmp_path / "runs" / "b", **credentials(reference_server)
    )
    assert len(judged.requests) == 3
    assert [j["cached"] for r in second.records for j in r.judgements] == [True] * 3
    assert second.summary["usage"]["judge_tokens"] == 0
    assert second.summary["usage"]["judge_cached"] == 3
    assert [r.judgements[0]["score"] for r in first.records] == [
        r.judgements[0]["score"] for r in second.records
    ]
    await evaluate_async(
        path, out=tmp_path / "runs" / "c", cache=False, **credentials(reference_server)
    )
    assert len(judged.requests) == 6


async def test_judge_key_is_sent_and_never_stored_logged_or_shown(
    reference_server: ReferenceServer,
    judged: FakeModel,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    judged.script(Answer(status=500))
    out = tmp_path / "runs" / "a"
    result = await evaluate_async(write(tmp_path), out=out, **credentials(reference_server))
    assert {request["auth"] for request in judged.requests} == {f"Bearer {KEY}"}
    shown = [repr(result), result._repr_html_(), caplog.text]
    shown += [path.read_text(encoding="utf-8") for path in out.rglob("*") if path.is_file()]
    shown += [p.read_text() for p in (tmp_path / "runs" / CACHE_DIR_NAME).rglob("*.json")]
    for text in shown:
        assert KEY not in text


def test_judge_key_in_the_scenario_file_is_refused_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "judge:\n  url: http://127.0.0.1:9/v1\n  api_key: sk-oops\n" + SCRIPT)
    assert main(["eval", str(path), "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "s.yaml:3:3: judge.api_key: an API key never goes in the scenario file" in err
    assert "LUME_JUDGE_API_KEY" in err
    assert "sk-oops" not in err


def test_judge_missing_endpoint_is_bad_usage_saying_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LUME_JUDGE_URL", "LUME_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    path = write(tmp_path)
    assert main(["eval", str(path), "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--judge-url" in err
    assert "LUME_JUDGE_URL" in err


def test_judge_endpoint_flags_win_over_environment_over_file() -> None:
    scenarios = parse_scenarios("judge: {url: 'http://file/v1', model: file-model}\n" + SCRIPT)
    env = {"LUME_JUDGE_URL": "http://env/v1", "OPENAI_API_KEY": "sk-openai"}
    judge, simulator = resolve_endpoints(scenarios, env=env)
    assert judge is not None
    assert simulator is None
    assert (judge.url, judge.model, judge.api_key) == ("http://env/v1", "file-model", "sk-openai")
    assert "sk-openai" not in repr(judge)
    judge, _ = resolve_endpoints(
        scenarios,
        judge_url="http://flag/v1",
        judge_model="flag-model",
        env={**env, "LUME_JUDGE_MODEL": "env-model", "LUME_JUDGE_API_KEY": "sk-judge"},
    )
    assert judge is not None
    assert (judge.url, judge.model, judge.api_key) == ("http://flag/v1", "flag-model", "sk-judge")
    with pytest.raises(ConfigurationError, match="rubric checks"):
        resolve_endpoints(parse_scenarios(SCRIPT), env={})


@pytest.mark.parametrize(
    ("text", "score", "reason"),
    [
        ('{"score": 0.8, "reason": "good"}', 0.8, "good"),
        ('```json\n{"score": 1, "reason": "all there"}\n```', 1.0, "all there"),
        ('Here you go: {"score": "0.25", "reason": "thin"} hope that helps', 0.25, "thin"),
        ('{"note": 1} then {"score": 0, "reason": "none"}', 0.0, "none"),
        ('{"score": true}', 1.0, ""),
    ],
)
def test_judge_answer_is_read_tolerantly(text: str, score: float, reason: str) -> None:
    assert parse_judgement(text) == (score, reason)


@pytest.mark.parametrize(
    "text", ["", "no json", '{"reason": "x"}', '{"score": -0.1}', '{"score": NaN}']
)
def test_judge_answer_without_a_usable_score_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="score"):
        parse_judgement(text)


def test_judge_flags_on_the_command_line_win_and_no_cache_asks_again(
    reference_server: ReferenceServer,
    judged: FakeModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LUME_JUDGE_URL", "http://127.0.0.1:9/v1")  # the flag wins over it
    monkeypatch.setenv("LUME_JUDGE_MODEL", "env-model")
    path = write(tmp_path, "judge: {url: 'http://127.0.0.1:9/v1', model: file-model}\n" + SCRIPT)
    server = [
        "--url",
        reference_server.url,
        "--api-key",
        reference_server.api_key,
        "--email",
        reference_server.email,
        "--password",
        reference_server.password,
        "--no-progress",
        "--judge-url",
        judged.url,
        "--judge-model",
        "flag-model",
    ]
    assert main(["eval", str(path), "--out", str(tmp_path / "runs" / "a"), *server]) == 0
    out = capsys.readouterr().out
    assert "report: " in out
    assert "judge 180 (3 calls, 0 from the cache)" in out
    assert {body["model"] for body in judged.bodies} == {"flag-model"}
    assert main(["eval", str(path), "--out", str(tmp_path / "runs" / "b"), *server]) == 0
    assert len(judged.requests) == 3
    assert "(0 calls, 3 from the cache)" in capsys.readouterr().out
    argv = ["eval", str(path), "--out", str(tmp_path / "runs" / "c"), "--no-cache", *server]
    assert main(argv) == 0
    assert len(judged.requests) == 6
    assert KEY not in capsys.readouterr().out


async def test_judge_works_on_one_turn_while_the_persona_answers_the_next(
    reference_server: ReferenceServer, judged: FakeModel, tmp_path: Path
) -> None:
    # The first verdict is held until the second turn's judge asks: a runner that waited
    # for each verdict before the next turn would never get there (and err on the timeout).
    judged.script(Answer(text='{"score": 0.2, "reason": "vague"}', after_requests=2))
    path = write(tmp_path, "judge: {timeout_s: 20}\n" + SCRIPT)
    out = tmp_path / "a"
    result = await evaluate_async(path, out=out, **credentials(reference_server))
    first, second = result.records
    assert first.check_errors == []
    assert first.judgements[0]["reason"] == "vague"
    assert first.outcome == "failed"
    assert second.outcome == "passed"
    saved = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert [line["turn"] for line in saved] == [0, 1]  # still written in turn order
    assert saved[0]["judgements"][0]["score"] == 0.2


async def test_judge_endpoint_credentials_never_show_in_reprs_or_errors() -> None:
    endpoint = ModelEndpoint(
        url="http://user:url-secret@127.0.0.1:9/v1", model="m", api_key=KEY, max_attempts=1
    )
    model = ChatModel(endpoint)
    try:
        with pytest.raises(ModelCallError) as caught:
            await model.complete([{"role": "user", "content": "hi"}])
    finally:
        await model.aclose()
    for text in (str(caught.value), repr(endpoint), repr(model), repr(Judge(model))):
        assert "url-secret" not in text
        assert KEY not in text
    assert "http://127.0.0.1:9/v1" in str(caught.value)
