/**
 * The chat panel's DOM: header with badges and pickers, the transcript, the composer and the
 * explore drawer. Thin on purpose: it draws what `render(traits, visible)` is given, keeps
 * only UI state (scroll position, drawer open, dismissed error) and reports user intents
 * through the `actions` callbacks; the controller owns the model and the reducer.
 */

import { createComposer } from './composer.js';
import { button, h, icon } from './dom.js';
import { createExplore } from './explore.js';
import {
  badgeAnnouncement, goalLabel, humanize, statusLabel, TIER_HELP, tierLabel,
} from './format.js';
import { DraftRow, LazyHighlighter, messageRow, pendingUserRow } from './messages.js';
import { AutoScroll } from './scroll.js';

/** Rows drawn at once when a long history arrives (a reload); older ones follow in slices. */
const FIRST_ROWS = 16;
/** Of those, the newest rows whose code is coloured at once; the others when scrolled near. */
const EAGER_ROWS = 4;
/** Time per slice spent drawing older rows of a long history (ms): no slice is a long task. */
const BACKFILL_BUDGET_MS = 8;
let panelCount = 0;

/**
 * Runs `fn` in a task of its own as soon as the event loop is free (a MessageChannel
 * message: no 4 ms timer clamp, no wait for the next frame). Returns {cancel()}.
 */
export function nextTask(fn) {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    fn();
  };
  channel.port2.postMessage(null);
  return { cancel: () => channel.port1.close() };
}

function badge(kind) {
  return h('span', { class: `lume-badge lume-badge--${kind}`, tabindex: '0', role: 'img' },
    h('span', { class: 'lume-dot', 'aria-hidden': 'true' }), h('span', { class: 'lume-badge__label' }));
}

function setBadge(el, kind, value, label, reason) {
  el.className = `lume-badge lume-badge--${kind} lume-badge--${value || 'unknown'}`;
  el.dataset.value = value || '';
  el.lastChild.textContent = label;
  const help = kind === 'tier' && TIER_HELP[value] ? `${TIER_HELP[value]} ` : '';
  el.title = reason ? `${help}${reason}` : help.trim() || label;
  el.setAttribute('aria-label', badgeAnnouncement(kind, label, reason));
}

function fillSelect(select, options, value) {
  const json = JSON.stringify(options);
  if (select.dataset.options !== json) {
    select.replaceChildren(...options.map(([v, label]) => h('option', { value: v, text: label })));
    select.dataset.options = json;
  }
  if (!options.some(([v]) => v === value) && value) {
    select.append(h('option', { value, text: humanize(value) }));
    select.dataset.options = '';
  }
  if (select.value !== value) select.value = value;
}

/**
 * Builds the panel inside `root`. `actions`: send(text), stop(), retry(), newConsultation(),
 * clearView(), showAll(), setPersona(name), setGoal(id), pinTier(tier), simulateDrop(),
 * setFaults(faults). Returns {render(traits, visible), destroy()}.
 */
export function createPanel(root, actions) {
  panelCount += 1;
  const hintId = `lume-hint-${panelCount}`;
  const live = h('div', { class: 'lume-sr-only', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
  let announceTimer = 0;
  const announce = (text) => {
    // Cleared first so the same sentence twice is announced twice.
    live.textContent = '';
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => { live.textContent = text; }, 30);
  };

  const statusBadge = badge('status');
  const tierBadge = badge('tier');
  const subtitle = h('div', { class: 'lume-subtitle' });
  const header = h('header', { class: 'lume-header' },
    h('div', { class: 'lume-brand' },
      h('span', { class: 'lume-logo', 'aria-hidden': 'true' }),
      h('div', {}, h('div', { class: 'lume-title', text: 'Lume' }), subtitle)),
    h('div', { class: 'lume-badges' }, statusBadge, tierBadge));

  const persona = h('select', { class: 'lume-select', 'aria-label': 'Persona',
    onchange: () => actions.setPersona(persona.value) });
  const goal = h('select', { class: 'lume-select', 'aria-label': 'Goal',
    onchange: () => actions.setGoal(goal.value) });
  const newButton = button('New consultation', 'plus', () => actions.newConsultation(), { iconOnly: true });
  const clearButton = button('Clear view', 'clear', () => actions.clearView(), { iconOnly: true });
  const exploreButton = button('Explore tiers and faults', 'explore', () => setDrawer(drawerEl.hidden), { iconOnly: true });
  exploreButton.setAttribute('aria-expanded', 'false');
  const toolbar = h('div', { class: 'lume-toolbar' },
    h('label', { class: 'lume-picker' }, h('span', { text: 'Persona' }), persona),
    h('label', { class: 'lume-picker' }, h('span', { text: 'Goal' }), goal),
    h('span', { class: 'lume-spacer' }),
    newButton, clearButton, exploreButton);

  const list = h('div', { class: 'lume-list' });
  const hiddenBar = h('div', { class: 'lume-hidden-bar', hidden: true },
    h('span', { class: 'lume-hidden-bar__text' }),
    button('Show all', null, () => actions.showAll(), { className: 'lume-btn--link' }));
  const empty = h('div', { class: 'lume-empty' },
    h('span', { class: 'lume-logo lume-logo--big', 'aria-hidden': 'true' }),
    h('p', { class: 'lume-empty__title' }),
    h('p', { class: 'lume-empty__hint', text: 'Ask a question below. Replies stream in as they are written.' }));
  const transcript = h('div', {
    class: 'lume-transcript', tabindex: '0', role: 'log', 'aria-live': 'off', 'aria-label': 'Conversation',
  }, hiddenBar, empty, list);
  const jump = h('button', { type: 'button', class: 'lume-jump', hidden: true }, icon('down'), h('span', { text: 'Jump to latest' }));
  const explore = createExplore({
    pinTier: (tier) => actions.pinTier(tier),
    simulateDrop: () => actions.simulateDrop(),
    setFaults: (faults) => actions.setFaults(faults),
    close: () => setDrawer(false),
  });
  const drawerEl = explore.el;
  const body = h('div', { class: 'lume-body' }, transcript, jump, drawerEl);

  const composer = createComposer({
    send: (text) => actions.send(text),
    stop: () => actions.stop(),
    retry: () => actions.retry(),
    sent: () => scroll.toBottom(),
  }, { hintId });

  const panel = h('div', { class: 'lume-chat', 'data-lm-suppress-shortcuts': 'true' }, header, toolbar, body, composer.el, live);
  root.append(panel);
  const scroll = new AutoScroll(transcript, jump);
  const highlighter = new LazyHighlighter(transcript);

  let lastTraits = {};
  let firstRender = true;
  const rows = new Map(); // key -> {el, draft?}
  let floorKey = null; // oldest drawn row of a long history still being drawn
  let backfillTask = null;
  let lastItems = [];

  function setDrawer(open) {
    drawerEl.hidden = !open;
    exploreButton.setAttribute('aria-expanded', String(open));
    exploreButton.classList.toggle('lume-btn--active', open);
    if (open) {
      explore.update(lastTraits);
      explore.focus();
    } else if (panel.contains(document.activeElement) || document.activeElement === document.body) {
      exploreButton.focus();
    }
  }

  const onKeydown = (event) => {
    if (event.key !== 'Escape') return;
    if (lastTraits.pending) {
      event.preventDefault();
      event.stopPropagation();
      actions.stop();
    } else if (!drawerEl.hidden) {
      event.preventDefault();
      event.stopPropagation();
      setDrawer(false);
    }
  };
  // Capture: Escape is handled before any control in the panel (or the host) sees it.
  panel.addEventListener('keydown', onKeydown, true);

  function renderHeader(t, prev) {
    if (t.status !== prev.status || t.status_reason !== prev.status_reason) {
      setBadge(statusBadge, 'status', t.status, statusLabel(t.status), t.status_reason);
      if (!firstRender && t.status !== prev.status) announce(badgeAnnouncement('status', statusLabel(t.status), t.status_reason));
    }
    if (t.tier !== prev.tier || t.tier_reason !== prev.tier_reason || t.pinned_tier !== prev.pinned_tier) {
      const label = tierLabel(t.tier) + (t.pinned_tier ? ' (pinned)' : '');
      setBadge(tierBadge, 'tier', t.tier, label, t.tier_reason);
      if (!firstRender && t.tier !== prev.tier) announce(badgeAnnouncement('tier', tierLabel(t.tier), t.tier_reason));
    }
    const personas = (Array.isArray(t.personas) && t.personas.length ? t.personas : [t.persona]).filter(Boolean);
    fillSelect(persona, personas.map((p) => [p, humanize(p)]), t.persona || '');
    const goals = Array.isArray(t.goals) ? t.goals : [];
    fillSelect(goal, [['', 'No goal'], ...goals.map((g) => [String(g.id), goalLabel(g)])], t.goal_id || '');
    const busy = Boolean(t.pending);
    persona.disabled = busy;
    goal.disabled = busy;
    newButton.disabled = busy;
    const goalTitle = goals.find((g) => String(g.id) === t.goal_id);
    subtitle.textContent = [humanize(t.persona), goalTitle ? goalTitle.title : ''].filter(Boolean).join(' \u00b7 ');
    panel.dataset.status = t.status || '';
    panel.dataset.tier = t.tier || '';
  }

  function rowFor(item, retired, quiet = false) {
    const entry = buildRow(item, retired, quiet);
    // Rows that arrive while the panel is open rise in; a loaded history just appears.
    if (!firstRender && !quiet) entry.el.classList.add('lume-row--new');
    return entry;
  }

  function buildRow(item, retired, quiet) {
    if (item.kind === 'draft') {
      const draft = new DraftRow(item);
      return { el: draft.el, draft };
    }
    if (item.kind === 'pending_user') return { el: pendingUserRow(item) };
    const message = item.message;
    let draft = null;
    if (message.role === 'assistant') {
      const content = String(message.content ?? '');
      draft = retired.find((d) => d.text !== '' && content.startsWith(d.text)) || null;
      if (draft) {
        draft.update({ text: content, typing: false, streaming: false });
        retired.splice(retired.indexOf(draft), 1);
      }
      if (!firstRender && !quiet) {
        announce(message.status === 'stopped' ? 'Reply stopped.' : message.status === 'error' ? 'Reply interrupted.' : 'Reply finished.');
      }
    }
    // Older rows of a long history are drawn off screen: their code is coloured when seen.
    const el = messageRow(message, announce, draft, { lazy: quiet });
    if (quiet) highlighter.watch(el);
    return { el };
  }

  /** Where drawing starts: a long new history starts near its end, older rows come later. */
  function firstShown(items) {
    if (floorKey !== null) {
      const at = items.findIndex((item) => item.key === floorKey);
      if (at >= 0) return at;
      floorKey = null;
    }
    const fresh = items.filter((item) => !rows.has(item.key)).length;
    if (fresh <= FIRST_ROWS * 2) return 0;
    const start = items.length - FIRST_ROWS;
    floorKey = items[start].key;
    return start;
  }

  /**
   * Draws older rows of a long history above the drawn ones in time slices of a few ms,
   * one task each, back to back (the browser paints between them when a frame is due).
   * A reader who is not at the bottom keeps their place through scroll anchoring (CSS).
   */
  function backfill() {
    backfillTask = null;
    const items = lastItems;
    let at = items.findIndex((item) => item.key === floorKey);
    if (at <= 0 || !rows.has(floorKey)) {
      floorKey = null;
      return;
    }
    const anchor = rows.get(floorKey).el;
    const started = performance.now();
    const fragment = document.createDocumentFragment();
    while (at > 0 && performance.now() - started < BACKFILL_BUDGET_MS) {
      at -= 1;
      const entry = rowFor(items[at], [], true);
      rows.set(items[at].key, entry);
      fragment.prepend(entry.el);
    }
    list.insertBefore(fragment, anchor);
    floorKey = at > 0 ? items[at].key : null;
    scroll.afterRender();
    if (floorKey !== null) backfillTask = nextTask(backfill);
  }

  function renderTranscript(visible) {
    const { hidden } = visible;
    const start = firstShown(visible.items);
    const items = visible.items.slice(start);
    // A long history: only the newest rows are surely on screen.
    const quietBefore = start > 0 ? items.length - EAGER_ROWS : 0;
    lastItems = visible.items;
    const keys = new Set(items.map((item) => item.key));
    const retired = [];
    for (const [key, entry] of rows) {
      if (keys.has(key)) continue;
      // A draft leaving may become its finished message's row: detach it only if not.
      if (entry.draft) retired.push(entry.draft);
      else {
        highlighter.unwatch(entry.el);
        entry.el.remove();
      }
      rows.delete(key);
    }
    let previous = null;
    for (const [i, item] of items.entries()) {
      let entry = rows.get(item.key);
      if (!entry) {
        entry = rowFor(item, retired, i < quietBefore);
        rows.set(item.key, entry);
      } else if (entry.draft) {
        entry.draft.update(item);
      }
      const expected = previous ? previous.nextSibling : list.firstChild;
      if (expected !== entry.el) list.insertBefore(entry.el, expected);
      previous = entry.el;
    }
    for (const draft of retired) draft.el.remove();
    if (floorKey !== null && !backfillTask) backfillTask = nextTask(backfill);
    hiddenBar.hidden = hidden === 0;
    hiddenBar.firstChild.textContent = `${hidden} earlier message${hidden === 1 ? '' : 's'} hidden from view.`;
    empty.hidden = visible.items.length > 0 || hidden > 0;
  }

  /**
   * A control that turns disabled or hidden under focus drops it to the page, where Escape
   * and typing no longer reach the panel: keep it inside (the open drawer, else the box).
   */
  function keepFocus(hadFocus) {
    if (!hadFocus) return;
    const active = document.activeElement;
    if (active && active !== document.body && panel.contains(active) && !active.disabled) return;
    if (active && active !== document.body && !panel.contains(active)) return;
    const target = !drawerEl.hidden ? drawerEl : composer.input;
    target.focus({ preventScroll: true });
  }

  function render(traits, visible) {
    const hadFocus = panel.contains(document.activeElement);
    const prev = lastTraits;
    lastTraits = traits;
    renderHeader(traits, prev);
    composer.render(traits);
    empty.querySelector('.lume-empty__title').textContent = `Chat with ${humanize(traits.persona) || 'Lume'}`;
    clearButton.disabled = visible.items.length === 0;
    renderTranscript(visible);
    if (!drawerEl.hidden) explore.update(traits);
    if (traits.error && traits.error !== prev.error && !firstRender) announce(`Error: ${traits.error}`);
    scroll.afterRender();
    keepFocus(hadFocus);
    firstRender = false;
  }

  function destroy() {
    clearTimeout(announceTimer);
    if (backfillTask) backfillTask.cancel();
    backfillTask = null;
    scroll.destroy();
    highlighter.destroy();
    panel.removeEventListener('keydown', onKeydown, true);
    panel.remove();
    rows.clear();
  }

  return { render, destroy, announce, element: panel };
}
