/**
 * The consultations drawer: the persona's (and goal's) consultations, active and completed,
 * newest first, with message counts and dates; open one, complete one, delete one (after a
 * confirmation in the row itself).
 *
 * The list is the `consultations` trait, loaded by Python when the drawer opens (a
 * `list_consultations` message). The actions are custom messages; which row waits for a
 * confirmation is this drawer's own state.
 */

import { button, h } from './dom.js';
import { formatTime, humanize } from './format.js';

/** The backend's limit on active consultations per user (PROTOCOL B: 429 past it). */
export const MAX_ACTIVE = 10;

/** "3 active · 2 completed" (pure, tested in node). */
export function countsLine(rows) {
  const active = rows.filter((r) => r.status === 'active').length;
  const completed = rows.filter((r) => r.status === 'completed').length;
  return `${active} active \u00b7 ${completed} completed`;
}

/** "12 messages · started 2 Mar, 09:12 · last 2 Mar, 09:40" */
export function rowDetails(row) {
  const n = Number.isInteger(row.message_count) ? row.message_count : 0;
  const parts = [`${n} message${n === 1 ? '' : 's'}`];
  const started = formatTime(row.started_at);
  if (started) parts.push(`started ${started.full}`);
  const last = formatTime(row.last_message_at);
  if (last && row.last_message_at !== row.started_at) parts.push(`last ${last.full}`);
  return parts.join(' \u00b7 ');
}

/**
 * Builds the drawer. `actions`: {refresh(), open(id), complete(id), remove(id), close()}.
 * Returns {el, update(traits), focus(), opened()}.
 */
export function createConsultations(actions) {
  let confirming = '';
  let lastJson = '';
  let lastTraits = {};
  const counts = h('p', { class: 'lume-help lume-consult__counts' });
  const list = h('ul', { class: 'lume-consult__list', 'aria-label': 'Consultations' });
  const closeButton = button('Close consultations', 'close', () => actions.close(), { iconOnly: true });
  const refreshButton = button('Refresh', 'retry', () => actions.refresh(), { iconOnly: true });
  const el = h('aside', { class: 'lume-drawer lume-drawer--consult', 'aria-label': 'Consultations', tabindex: '-1', hidden: true },
    h('header', { class: 'lume-drawer__head' }, h('h3', { text: 'Consultations' }),
      h('div', { class: 'lume-drawer__tools' }, refreshButton, closeButton)),
    h('div', { class: 'lume-drawer__body' }, counts, list));

  function rowEl(row) {
    const status = row.status === 'active' ? 'active' : 'completed';
    const title = h('div', { class: 'lume-consult__title' },
      h('span', { class: 'lume-consult__name', text: humanize(row.persona) || 'Consultation' }),
      h('span', { class: `lume-tag lume-tag--${status}`, text: status === 'active' ? 'Active' : 'Completed' }),
      row.current ? h('span', { class: 'lume-tag lume-tag--current', text: 'Shown here' }) : null,
      row.elsewhere && !row.current ? h('span', { class: 'lume-tag', text: 'In another panel' }) : null);
    const details = h('div', { class: 'lume-consult__details', text: rowDetails(row) });
    const tools = h('div', { class: 'lume-consult__actions' });
    if (confirming === row.id) {
      tools.append(
        h('span', { class: 'lume-consult__confirm', text: 'Delete it and its messages for good?' }),
        button('Delete for good', null, () => { confirming = ''; actions.remove(row.id); }, { className: 'lume-btn--danger' }),
        button('Keep', null, () => { confirming = ''; render(); }, { className: 'lume-btn--ghost' }));
    } else {
      if (!row.current) tools.append(button('Open', null, () => actions.open(row.id), { className: 'lume-btn--ghost' }));
      if (status === 'active') tools.append(button('Complete', null, () => actions.complete(row.id), { className: 'lume-btn--ghost' }));
      tools.append(button('Delete', null, () => { confirming = row.id; render(); focusConfirm(row.id); }, { className: 'lume-btn--ghost lume-btn--danger-text' }));
    }
    return h('li', { class: `lume-consult${row.current ? ' lume-consult--current' : ''}`, 'data-id': row.id }, title, details, tools);
  }

  function focusConfirm(id) {
    const keep = [...list.children].find((li) => li.dataset.id === id)?.querySelector('.lume-btn--ghost');
    keep?.focus();
  }

  function render() {
    const rows = Array.isArray(lastTraits.consultations) ? lastTraits.consultations : [];
    const active = rows.filter((r) => r.status === 'active').length;
    counts.textContent = rows.length
      ? `${countsLine(rows)}${active >= MAX_ACTIVE ? ` \u00b7 the limit is ${MAX_ACTIVE} active: complete one to start another` : ''}`
      : 'No consultations with this persona yet.';
    const hadFocus = el.contains(document.activeElement) ? document.activeElement : null;
    list.replaceChildren(...rows.map(rowEl));
    if (hadFocus && !el.contains(document.activeElement)) el.focus({ preventScroll: true });
  }

  function update(traits) {
    lastTraits = traits;
    const json = JSON.stringify(traits.consultations || []);
    if (json === lastJson) return;
    lastJson = json;
    if (confirming && !(traits.consultations || []).some((r) => r.id === confirming)) confirming = '';
    render();
  }

  return {
    el,
    update,
    focus: () => (list.querySelector('button') || closeButton).focus(),
    /** The drawer opened: ask for a fresh list. */
    opened: () => { confirming = ''; actions.refresh(); },
  };
}
