/**
 * The rating row under a reply: thumbs up, thumbs down, a note, and (in a comparison) the
 * best pick. It draws the `ratings` trait's entry for one message id and reports changes
 * through `rate(id, {rating, note, best})`; the model is the one place ratings live.
 */

import { button, h } from './dom.js';

const WORDS = { up: 'Good reply', down: 'Bad reply' };

/** Builds the row for message `id`; `best` adds the "Best reply" toggle. Returns {el, update(entry)}. */
export function ratingBar(id, rate, { best = false } = {}) {
  let entry = {};
  const send = (change) => rate(id, { rating: entry.rating || '', note: entry.note || '', best: Boolean(entry.best), ...change });
  const thumb = (value) => {
    const btn = button(WORDS[value], 'thumb', () => send({ rating: entry.rating === value ? '' : value }), {
      iconOnly: true, className: `lume-rate lume-rate--${value}`,
    });
    btn.setAttribute('aria-pressed', 'false');
    return btn;
  };
  const up = thumb('up');
  const down = thumb('down');
  const pick = best
    ? button('Best reply', 'star', () => send({ best: !entry.best }), { iconOnly: true, className: 'lume-rate lume-rate--best' })
    : null;
  const note = h('input', {
    class: 'lume-note', type: 'text', maxlength: '2000', placeholder: 'Add a note', 'aria-label': 'Note on this reply',
    onchange: () => send({ note: note.value }),
    onkeydown: (event) => {
      event.stopPropagation(); // typing here is not a notebook shortcut
      if (event.key === 'Enter') note.blur();
    },
  });
  const el = h('div', { class: 'lume-rating', role: 'group', 'aria-label': 'Rate this reply' }, up, down, pick, note);

  function update(next) {
    entry = next || {};
    for (const [btn, on] of [[up, entry.rating === 'up'], [down, entry.rating === 'down'], [pick, entry.best]]) {
      if (!btn) continue;
      btn.setAttribute('aria-pressed', String(Boolean(on)));
      btn.classList.toggle('lume-btn--active', Boolean(on));
    }
    if (document.activeElement !== note && note.value !== (entry.note || '')) note.value = entry.note || '';
    el.dataset.rating = entry.rating || '';
  }
  update(null);
  return { el, update };
}

/** The ratings trait with `id` set to `value` (dropped when it says nothing). */
export function withRating(ratings, id, value) {
  const next = { ...(ratings || {}) };
  if (value.rating || (value.note || '').trim() || value.best) next[id] = value;
  else delete next[id];
  return next;
}
