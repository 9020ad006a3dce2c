"""The run's HTML report: one self-contained page (``report.html``) and the same pieces for notebooks.

Everything is inline: CSS in a ``<style>`` whose every rule sits under the root class
``.lume-eval-report`` (so nothing on the page around it, a chat panel included, is
touched), plots drawn as SVG, no script and no fetch of any kind. Colours come from
JupyterLab's ``--jp-*`` variables when they exist (its dark theme works), otherwise from
the page's light or dark scheme (``prefers-color-scheme``). All text from the backend,
the models and the scenario file is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lume_widget.evaluation.records import TurnRecord, valid_text
from lume_widget.evaluation.stats import percentile

__all__ = [
    "REPORT_FILE",
    "ROOT_CLASS",
    "STYLE",
    "page",
    "render_report",
    "render_transcript",
    "write_report",
]

REPORT_FILE = "report.html"
ROOT_CLASS = "lume-eval-report"

_R = f".{ROOT_CLASS}"
STYLE = f"""
{_R} {{
  --le-bg: var(--jp-layout-color0, #ffffff); --le-panel: var(--jp-layout-color1, #f9fafb);
  --le-head: var(--jp-layout-color2, #eef0f3); --le-fg: var(--jp-ui-font-color0, #101828);
  --le-muted: var(--jp-ui-font-color2, #5d6776); --le-line: var(--jp-border-color2, #d6dae1);
  --le-user: #1d5fd1; --le-user-fg: #ffffff; --le-pass: #067647; --le-pass-bg: #d7f5e3;
  --le-fail: #b42318; --le-fail-bg: #fde4e1; --le-err: #93370d; --le-err-bg: #fdefc8;
  --le-flaky: #7a2e9c; --le-flaky-bg: #f1e3f8; --le-dot: #1d5fd1;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: 13px; line-height: 1.45; color: var(--le-fg); background: var(--le-bg);
  padding: 8px 4px; max-width: 1200px;
}}
@media (prefers-color-scheme: dark) {{
  {_R} {{
    --le-bg: var(--jp-layout-color0, #111418); --le-panel: var(--jp-layout-color1, #1a1f25);
    --le-head: var(--jp-layout-color2, #252b33); --le-fg: var(--jp-ui-font-color0, #e6e9ee);
    --le-muted: var(--jp-ui-font-color2, #a2abb8); --le-line: var(--jp-border-color2, #38404b);
    --le-user: #3b7be8; --le-pass: #6ee7a8; --le-pass-bg: #0f3a26; --le-fail: #ff9d92;
    --le-fail-bg: #4a1712; --le-err: #fcd37a; --le-err-bg: #47300b; --le-flaky: #e1b3f5;
    --le-flaky-bg: #3b1b4a; --le-dot: #7fb0ff;
  }}
}}
{_R} h2 {{font-size: 15px; margin: 14px 0 6px}}
{_R} h3 {{font-size: 13px; margin: 10px 0 4px}}
{_R} table {{border-collapse: collapse; margin: 4px 0 10px; background: var(--le-panel)}}
{_R} th, {_R} td {{border: 1px solid var(--le-line); padding: 3px 7px; text-align: left;
  vertical-align: top; color: var(--le-fg)}}
{_R} th {{background: var(--le-head); font-weight: 600}}
{_R} td.num {{text-align: right; font-variant-numeric: tabular-nums}}
{_R} tr.failed td {{background: var(--le-fail-bg)}}
{_R} tr.error td {{background: var(--le-err-bg)}}
{_R} .badge {{display: inline-block; padding: 0 7px; border-radius: 8px; font-weight: 600;
  font-size: 12px}}
{_R} .badge.passed {{background: var(--le-pass-bg); color: var(--le-pass)}}
{_R} .badge.failed {{background: var(--le-fail-bg); color: var(--le-fail)}}
{_R} .badge.error {{background: var(--le-err-bg); color: var(--le-err)}}
{_R} .badge.flaky {{background: var(--le-flaky-bg); color: var(--le-flaky)}}
{_R} .headline {{font-size: 14px; margin: 4px 0 8px}}
{_R} .muted {{color: var(--le-muted)}}
{_R} ul.why {{margin: 2px 0; padding-left: 16px; color: var(--le-fail)}}
{_R} ul.why li.error {{color: var(--le-err)}}
{_R} .judge {{font-size: 12px; color: var(--le-muted); margin: 2px 0 6px 4px}}
{_R} details {{border: 1px solid var(--le-line); border-radius: 8px; margin: 6px 0;
  padding: 4px 10px; background: var(--le-panel)}}
{_R} summary {{cursor: pointer}}
{_R} .chat {{max-width: 780px}}
{_R} .row {{display: flex; margin: 6px 0}}
{_R} .row.user {{justify-content: flex-end}}
{_R} .bubble {{max-width: 78%; padding: 7px 11px; border-radius: 14px; white-space: pre-wrap;
  overflow-wrap: anywhere; background: var(--le-head); color: var(--le-fg)}}
{_R} .user .bubble {{background: var(--le-user); color: var(--le-user-fg);
  border-bottom-right-radius: 4px}}
{_R} .assistant .bubble {{border-bottom-left-radius: 4px}}
{_R} .assistant.failed .bubble {{box-shadow: inset 0 0 0 2px var(--le-fail)}}
{_R} .assistant.error .bubble {{box-shadow: inset 0 0 0 2px var(--le-err); font-style: italic}}
{_R} .who {{font-size: 11px; color: var(--le-muted); align-self: center; margin-right: 6px}}
{_R} .simulated .bubble {{outline: 2px dashed var(--le-user); outline-offset: 2px}}
{_R} .meta {{font-size: 11px; color: var(--le-muted); margin: 2px 0 0 4px}}
{_R} .grid td {{max-width: 320px; white-space: pre-wrap; overflow-wrap: anywhere}}
{_R} svg text {{fill: var(--le-muted); font-size: 11px}}
{_R} svg .axis {{stroke: var(--le-line)}}
{_R} svg .dot {{fill: var(--le-dot); opacity: .6}}
{_R} svg .dot.failed {{fill: var(--le-fail)}}
{_R} svg .median {{stroke: var(--le-fg); stroke-width: 2}}
{_R} code {{font-size: 12px}}
"""

_PREVIEW = 240


def _e(value: Any) -> str:
    return html.escape(valid_text("" if value is None else str(value)), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _preview(text: str, limit: int = _PREVIEW) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _by_conversation(records: Iterable[TurnRecord]) -> dict[tuple[str, str, int], list[TurnRecord]]:
    grouped: dict[tuple[str, str, int], list[TurnRecord]] = {}
    for record in records:
        grouped.setdefault(record.key, []).append(record)
    for run in grouped.values():
        run.sort(key=lambda r: r.turn)
    return grouped


def _headline(summary: dict[str, Any], where: str | None) -> str:
    turns = summary["turns"]
    verdict = "passed" if summary.get("all_passed") else ("failed" if turns["failed"] else "error")
    text = (
        f'<div class="headline"><span class="badge {verdict}">{_e(verdict.upper())}</span> '
        f"{turns['passed']} passed, {turns['failed']} failed, {turns['error']} errors,"
        f" {turns['skipped']} skipped of {turns['planned']} turns"
    )
    flaky = summary.get("flaky") or []
    if flaky:
        text += f' &middot; <span class="badge flaky">{len(flaky)} FLAKY</span>'
    if where:
        text += f" &middot; results in <code>{_e(where)}</code>"
    return text + "</div>"


def _run_facts(summary: dict[str, Any]) -> str:
    run = summary.get("run") or {}
    facts: list[str] = []
    if run.get("wall_s") is not None:
        facts.append(f"{summary['turns']['run']} turns in {run['wall_s']:.2f} s")
    if run.get("concurrency") is not None:
        facts.append(f"concurrency {run['concurrency']}")
    if run.get("url"):
        facts.append(f"backend {run['url']}")
    for role in ("judge", "simulator"):
        model = run.get(role)
        if model:
            facts.append(f"{role} {model['model']}")
    spent = summary.get("usage") or {}
    if spent:
        facts.append(
            f"tokens: replies {spent.get('reply_tokens', 0)}, judge {spent.get('judge_tokens', 0)}"
            f" ({spent.get('judge_calls', 0)} calls, {spent.get('judge_cached', 0)} cached),"
            f" simulator {spent.get('simulator_tokens', 0)}"
        )
    parts = [f'<div class="muted">{_e(" · ".join(facts))}</div>'] if facts else []
    parts += [
        f'<div class="muted"><em>note:</em> {_e(note)}</div>' for note in run.get("notes", [])
    ]
    return "".join(parts)


def _persona_table(summary: dict[str, Any]) -> str:
    rows = [
        "<table><tr><th>persona</th><th>turns</th><th>passed</th><th>failed</th><th>errors</th>"
        "<th>pass rate</th><th>TTFT p50</th><th>TTFT p95</th><th>duration p50</th>"
        "<th>duration p95</th><th>chunk gap p95</th><th>reply tokens</th></tr>"
    ]
    for name, group in [*summary["by_persona"].items(), ("all", summary)]:
        t = group["turns"]
        css = "failed" if t["failed"] else ("error" if t["error"] else "")
        gap = (group.get("chunk_gap_max_s") or {}).get("p95")
        tokens = (group.get("usage") or {}).get("reply_tokens")
        rows.append(
            f'<tr class="{css}"><td><b>{_e(name)}</b></td><td class="num">{t["run"]}</td>'
            f'<td class="num">{t["passed"]}</td><td class="num">{t["failed"]}</td>'
            f'<td class="num">{t["error"]}</td><td class="num">{_rate(group["pass_rate"])}</td>'
            f'<td class="num">{_num(group["ttft_s"]["p50"])}</td>'
            f'<td class="num">{_num(group["ttft_s"]["p95"])}</td>'
            f'<td class="num">{_num(group["duration_s"]["p50"])}</td>'
            f'<td class="num">{_num(group["duration_s"]["p95"])}</td>'
            f'<td class="num">{_num(gap)}</td><td class="num">{_e(tokens or "")}</td></tr>'
        )
    rows.append("</table>")
    return "".join(rows)


def _scenario_table(summary: dict[str, Any]) -> str:
    rows = [
        "<table><tr><th>scenario</th><th>runs</th><th>runs passed</th><th>pass rate</th>"
        "<th>pass@k</th><th>pass^k</th><th>TTFT spread</th><th>duration spread</th>"
        "<th>ended by</th></tr>"
    ]
    for name, group in (summary.get("by_scenario") or {}).items():
        if "runs" not in group:
            continue
        flaky = ' <span class="badge flaky">FLAKY</span>' if group.get("flaky") else ""
        css = "" if group["pass_hat_k"] else ("error" if group.get("flaky") else "failed")
        ended = ", ".join(f"{why} {n}" for why, n in (group.get("ended_by") or {}).items())
        rows.append(
            f'<tr class="{css}"><td><b>{_e(name)}</b>{flaky}</td>'
            f'<td class="num">{group["runs"]}</td><td class="num">{group["runs_passed"]}</td>'
            f'<td class="num">{_rate(group["pass_rate"])}</td>'
            f"<td>{'yes' if group['pass_at_k'] else 'no'}</td>"
            f"<td>{'yes' if group['pass_hat_k'] else 'no'}</td>"
            f'<td class="num">{_num(group["run_ttft_s"]["range"])}</td>'
            f'<td class="num">{_num(group["run_duration_s"]["range"])}</td>'
            f"<td>{_e(ended)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _ttft_plot(records: Sequence[TurnRecord]) -> str:
    """Time to first token per persona: a dot per turn (failed in red), a bar at the median."""
    judged = [r for r in records if r.ttft_s is not None and r.error is None]
    if not judged:
        return ""
    personas = sorted({r.persona for r in judged})
    top = max(r.ttft_s or 0.0 for r in judged) or 1.0
    width, row_h, left = 640, 28, 150
    height = row_h * len(personas) + 30
    scale = (width - left - 20) / top
    parts = [
        f'<svg role="img" aria-label="time to first token per persona" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for index, persona in enumerate(personas):
        y = 14 + index * row_h
        parts.append(f'<text x="4" y="{y + 4}">{_e(persona)}</text>')
        parts.append(f'<line class="axis" x1="{left}" y1="{y}" x2="{width - 20}" y2="{y}"/>')
        values = [r for r in judged if r.persona == persona]
        for r in values:
            x = left + (r.ttft_s or 0.0) * scale
            css = "dot failed" if r.outcome == "failed" else "dot"
            parts.append(f'<circle class="{css}" cx="{x:.1f}" cy="{y}" r="4"/>')
        median = percentile([r.ttft_s or 0.0 for r in values], 0.5) or 0.0
        x = left + median * scale
        parts.append(f'<line class="median" x1="{x:.1f}" y1="{y - 8}" x2="{x:.1f}" y2="{y + 8}"/>')
    axis_y = height - 8
    parts.append(f'<text x="{left}" y="{axis_y}">0 s</text>')
    parts.append(f'<text x="{width - 80}" y="{axis_y}">{top:.3f} s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _side_by_side(records: Sequence[TurnRecord]) -> str:
    """For each scenario run with several personas: their first runs' replies, turn by turn."""
    runs = _by_conversation(records)
    sections: list[str] = []
    for scenario in dict.fromkeys(r.scenario for r in records):
        personas = sorted({key[1] for key in runs if key[0] == scenario})
        if len(personas) < 2:
            continue
        first = {p: runs[min(k for k in runs if k[0] == scenario and k[1] == p)] for p in personas}
        depth = max(len(run) for run in first.values())
        head = "".join(f"<th>{_e(p)}</th>" for p in personas)
        rows = [f'<h3>{_e(scenario)}</h3><table class="grid"><tr><th>turn</th>{head}</tr>']
        for turn in range(depth):
            cells = []
            for persona in personas:
                record = next((r for r in first[persona] if r.turn == turn), None)
                if record is None:
                    cells.append("<td></td>")
                    continue
                cells.append(
                    f'<td><span class="badge {record.outcome}">{_e(record.outcome)}</span>'
                    f' <span class="muted">{_e(record.say)}</span><br>'
                    f"{_e(_preview(record.reply))}</td>"
                )
            rows.append(f'<tr><td class="num">{turn}</td>{"".join(cells)}</tr>')
        rows.append("</table>")
        sections.append("".join(rows))
    if not sections:
        return ""
    return "<h2>Personas side by side</h2>" + "".join(sections)


def _meta(record: TurnRecord) -> str:
    meta: list[str] = [record.outcome]
    if record.ttft_s is not None:
        meta.append(f"TTFT {record.ttft_s:.3f} s")
    if record.duration_s is not None:
        meta.append(f"{record.duration_s:.3f} s")
    if record.chunks:
        meta.append(f"{record.chunks} chunks")
    if record.chunk_gap_max_s is not None:
        meta.append(f"max gap {record.chunk_gap_max_s:.3f} s")
    if record.chars_per_s is not None:
        meta.append(f"{record.chars_per_s:.0f} chars/s")
    if record.tier:
        meta.append(f"over {record.tier}")
    if record.reconnects:
        meta.append(f"{record.reconnects} reconnects")
    if record.reply_tokens is not None:
        meta.append(f"{record.reply_tokens} tokens")
    if record.ended_by and record.last:
        meta.append(f"ended by {record.ended_by}")
    return f'<div class="meta">{_e(" · ".join(meta))}</div>'


def _chat(run: Sequence[TurnRecord]) -> str:
    parts = ['<div class="chat">']
    for record in run:
        if record.say and record.simulated:
            parts.append(
                '<div class="row user simulated"><span class="who">simulated user</span>'
                f'<div class="bubble">{_e(record.say)}</div></div>'
            )
        elif record.say:
            parts.append(f'<div class="row user"><div class="bubble">{_e(record.say)}</div></div>')
        body = _e(record.reply) if record.reply else "<em>(no reply)</em>"
        parts.append(
            f'<div class="row assistant {record.outcome}"><div class="bubble">{body}</div></div>'
        )
        parts.append(_meta(record))
        for judgement in record.judgements:
            score = judgement.get("score")
            shown = (
                "error" if score is None else f"{score:.2f} (threshold {judgement['threshold']:g})"
            )
            parts.append(
                f'<div class="judge">{_e(judgement["check"])} {_e(shown)}:'
                f" {_e(judgement.get('reason') or judgement.get('error') or '')}</div>"
            )
        problems = [f"<li>{_e(f)}</li>" for f in record.failures]
        problems += [f'<li class="error">{_e(e)}</li>' for e in record.check_errors]
        if record.error:
            problems.append(f'<li class="error">{_e(record.error)}</li>')
        if problems:
            parts.append(f'<ul class="why">{"".join(problems)}</ul>')
    parts.append("</div>")
    return "".join(parts)


def _transcripts(records: Sequence[TurnRecord], *, open_failed: bool = True) -> str:
    parts = ["<h2>Conversations</h2>"]
    for (scenario, persona, repeat), run in _by_conversation(records).items():
        outcomes = {r.outcome for r in run}
        outcome = (
            "error" if "error" in outcomes else ("failed" if "failed" in outcomes else "passed")
        )
        opened = " open" if open_failed and outcome != "passed" else ""
        parts.append(
            f'<details{opened}><summary><span class="badge {outcome}">{_e(outcome)}</span>'
            f" <b>{_e(scenario)}</b> &middot; {_e(persona)} &middot; repeat {repeat}"
            f' <span class="muted">({len(run)} turns)</span></summary>{_chat(run)}</details>'
        )
    return "".join(parts)


def render_report(
    records: Sequence[TurnRecord],
    summary: dict[str, Any],
    *,
    where: str | None = None,
    transcripts: bool = True,
) -> str:
    """The report as an HTML fragment: scoped style plus one root element."""
    parts = [f"<style>{STYLE}</style>", f'<div class="{ROOT_CLASS}">']
    parts.append(_headline(summary, where))
    parts.append(_run_facts(summary))
    parts.append("<h2>Per persona</h2>")
    parts.append(_persona_table(summary))
    plot = _ttft_plot(records)
    if plot:
        parts.append("<h2>Time to first token</h2>" + plot)
    parts.append("<h2>Scenarios</h2>")
    parts.append(_scenario_table(summary))
    parts.append(_side_by_side(records))
    if transcripts:
        parts.append(_transcripts(records))
    parts.append("</div>")
    return "".join(parts)


def render_transcript(records: Sequence[TurnRecord]) -> str:
    """One conversation as an HTML fragment, styled like the report."""
    first = records[0]
    consultation = next((r.consultation_id for r in records if r.consultation_id), None)
    head = (
        f'<div class="headline"><b>{_e(first.scenario)}</b> &middot; {_e(first.persona)}'
        f" &middot; repeat {first.repeat}"
        + (f" &middot; consultation <code>{_e(consultation)}</code>" if consultation else "")
        + "</div>"
    )
    return f'<style>{STYLE}</style><div class="{ROOT_CLASS}">{head}{_chat(records)}</div>'


def page(title: str, body: str) -> str:
    """A whole HTML document around a fragment; a CSP forbids every fetch, the page needs none."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{_e(title)}</title></head><body>{body}</body></html>\n"
    )


def write_report(out_dir: Path, records: Sequence[TurnRecord], summary: dict[str, Any]) -> Path:
    """Write ``report.html`` into the run directory (atomically) and return its path."""
    path = out_dir / REPORT_FILE
    title = f"Persona evaluation: {out_dir.name}"
    temporary = path.with_suffix(".html.tmp")
    temporary.write_text(
        valid_text(page(title, render_report(records, summary, where=str(out_dir)))),
        encoding="utf-8",
    )
    temporary.replace(path)
    return path
