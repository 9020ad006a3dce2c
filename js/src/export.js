/**
 * The conversation as a Markdown file, for the panel's download button (the same layout as
 * `ChatWidget.export("chat.md")` in Python). Only what the transcript shows goes in: the
 * persona, the goal, the messages with their times and states; nothing else of the model.
 */

import { goalLabel, humanize } from './format.js';

const STATE_NOTES = { stopped: ' (stopped)', error: ' (interrupted)', unsent: ' (not sent)' };

/** Markdown of `messages` (the `messages` trait) with a title naming persona and goal. */
export function toMarkdown(traits) {
  const persona = humanize(traits.persona) || 'Lume';
  const goal = (traits.goals || []).find((g) => String(g.id) === traits.goal_id);
  const lines = [`# Consultation with ${persona}`, ''];
  if (goal) lines.push(`Goal: ${goalLabel(goal)}`, '');
  if (traits.consultation_id) lines.push(`Consultation ${traits.consultation_id}`, '');
  for (const m of traits.messages || []) {
    const who = m.role === 'user' ? 'You' : persona;
    const when = m.created_at ? ` \u00b7 ${m.created_at}` : '';
    lines.push(`## ${who}${when}${STATE_NOTES[m.status] || ''}`, '', String(m.content ?? ''), '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** A file name for the download: lume-<persona>-<yyyy-mm-dd>.md */
export function exportName(traits, now = new Date()) {
  const day = now.toISOString().slice(0, 10);
  return `lume-${traits.persona || 'chat'}-${day}.md`;
}

/** Offers `text` as a file download (a Blob URL on a temporary link). */
export function download(text, name, type = 'text/markdown') {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
