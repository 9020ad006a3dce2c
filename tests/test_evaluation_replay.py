"""Replay: a run's recorded user turns sent again (another persona, another goal), compared with the run.

Real reference server on loopback, the real CLI: ``lume-widget eval --replay RUN`` writes a
new run whose records say which conversation each replays, so ``lume-widget compare``
pairs them even when the persona changed, and finds what the other persona does worse.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lume_widget.cli import main
from lume_widget.errors import ConfigurationError
from lume_widget.evaluation import compare_runs, replay
from lume_widget.evaluation.records import read_records
from lume_widget.evaluation.replayer import plan_replay
from lume_widget.server import ReferenceServer

SCENARIOS = """\
goals:
  sleep: {title: "Sleep 8 hours", goal_type: custom, target_value: 8, target_unit: hours}
scenarios:
  - name: food-and-sleep
    persona: nutritionist
    goal: sleep
    turns:
      - say: "What should I eat for breakfast?"
        expect: {icontains_any: ["breakfast"]}
      - say: "Anything about nutrition before bed?"
        expect: {icontains: ["nutrition"]}
  - name: plain
    persona: [nutritionist, fitness_coach]
    turns:
      - say: "Hello again"
"""


def cli_args(server: ReferenceServer) -> list[str]:
    return [
        "--url", server.url, "--api-key", server.api_key, "--email", server.email,
        "--password", server.password, "--no-progress",
    ]  # fmt: skip


@pytest.fixture
def base_run(reference_server: ReferenceServer, tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIOS, encoding="utf-8")
    out = tmp_path / "base"
    assert main(["eval", str(path), "--out", str(out), *cli_args(reference_server)]) == 0
    return out


def test_replay_same_persona_pairs_every_conversation_and_keeps_the_checks(
    base_run: Path, reference_server: ReferenceServer, tmp_path: Path
) -> None:
    new = tmp_path / "again"
    args = ["eval", "--replay", str(base_run), "--out", str(new), *cli_args(reference_server)]
    assert main(args) == 0
    before = read_records(base_run / "transcripts.jsonl")
    after = read_records(new / "transcripts.jsonl")
    assert sorted(r.say for r in after) == sorted(r.say for r in before)
    assert all(r.replay_of is not None for r in after)
    assert {r.goal for r in after if r.scenario == "food-and-sleep"} == {"sleep"}
    food = [r for r in after if r.scenario == "food-and-sleep"]
    assert [r.turn for r in food] == [0, 1]
    comparison = compare_runs(base_run, new)
    assert comparison.turns_compared == len(before)
    assert comparison.new_conversations == comparison.removed_conversations == []
    assert main(["compare", str(base_run), str(new)]) == 0


def test_replay_to_another_persona_is_compared_with_the_recorded_conversations(
    base_run: Path, reference_server: ReferenceServer, tmp_path: Path
) -> None:
    new = tmp_path / "coach"
    result = replay(
        base_run / "transcripts.jsonl",
        persona="general_wellness",
        out=new,
        url=reference_server.url,
        api_key=reference_server.api_key,
        email=reference_server.email,
        password=reference_server.password,
        progress=False,
    )
    assert {r.persona for r in result.records} == {"general_wellness"}
    originals = {tuple(r.replay_of or ()) for r in result.records}
    assert ("food-and-sleep", "nutritionist", "sleep", 0) in originals
    assert ("plain", "fitness_coach", None, 0) in originals
    comparison = result.compare(base_run)
    assert comparison.turns_compared == 4  # two conversations of "plain", both paired
    assert comparison.new_conversations == comparison.removed_conversations == []
    # The other persona does not talk of nutrition: compare finds the regression.
    regressed = [(c.scenario, c.turn) for c in comparison.regressions]
    assert ("food-and-sleep", 1) in regressed
    code = main(["compare", str(base_run), str(new), "--json", str(tmp_path / "d.json")])
    assert code == 1
    diff = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert diff["pass_rate"]["food-and-sleep"]["after"] < 1


def test_replay_says_what_to_do_with_bad_input(
    base_run: Path,
    reference_server: ReferenceServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ConfigurationError, match="not an evaluation run"):
        plan_replay(tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="Unknown persona"):
        plan_replay(base_run, persona="pirate")
    server = cli_args(reference_server)
    assert main(["eval", *server]) == 2
    assert "--replay RUN" in capsys.readouterr().err
    assert main(["eval", "--replay", str(base_run), "--persona", "nutritionist",
                 "--persona", "fitness_coach", *server]) == 2  # fmt: skip
    assert "give --persona once" in capsys.readouterr().err
    assert main(["eval", "--replay", str(tmp_path / "none"), *server]) == 2
    assert "not an evaluation run" in capsys.readouterr().err


def test_replay_without_the_scenario_file_reads_the_goal_from_the_backend(
    base_run: Path, reference_server: ReferenceServer, tmp_path: Path
) -> None:
    (tmp_path / "s.yaml").unlink()
    plan = plan_replay(base_run)
    assert plan.original_file is None
    assert set(plan.goal_ids) == {"sleep"}
    new = tmp_path / "no-file"
    args = ["eval", "--replay", str(base_run), "--out", str(new), *cli_args(reference_server)]
    assert main(args) == 0  # no checks without the file: every turn got a reply
    after = read_records(new / "transcripts.jsonl")
    before = read_records(base_run / "transcripts.jsonl")
    goal_ids = {r.goal_id for r in before if r.goal == "sleep"}
    assert {r.goal_id for r in after if r.goal == "sleep"} == goal_ids  # the same goal reused
