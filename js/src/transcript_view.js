/**
 * The transcript view: one row per visible item (finished messages, the question in flight,
 * the reply being written), kept in order with as few DOM moves as possible.
 *
 * Its own state: the rows drawn (by key), and for a long history arriving at once (a reload)
 * the oldest row drawn so far: the newest rows are drawn in the first frame and older ones
 * follow in time slices of a few ms, one task each, so no slice is a long task. A page of
 * older messages put first (the `older` bar at the top came into view: `loadOlder()`) is drawn
 * the same way, above the rows already drawn, keeping the reader's place.
 */

import { button, h } from './dom.js';
import { DraftRow, LazyHighlighter, messageRow, PendingUserRow } from './messages.js';
import { ratingBar } from './rating.js';

/** Rows drawn at once when a long history arrives (a reload); older ones follow in slices. */
const FIRST_ROWS = 16;
/** Of those, the newest rows whose code is coloured at once; the others when scrolled near. */
const EAGER_ROWS = 4;
/** Time per slice spent drawing older rows of a long history (ms): no slice is a long task. */
const BACKFILL_BUDGET_MS = 8;

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

function labelled(item, words) {
  if (item.kind === 'draft') return { ...item, label: words.draft };
  if (item.kind === 'pending_user') return { ...item, tag: words.user };
  return item;
}

/**
 * Builds the transcript. `actions`: showAll(), rate(id, value) (a reply's rating row; none
 * without it), loadOlder() (the page before the oldest message held), `best` adds the best-reply pick; `announce(text)` speaks to screen readers;
 * `afterDraw()` runs after rows were added out of a render (backfill), for the autoscroll.
 * Returns {el, render(visible, {firstRender}), itemCount(), destroy()}.
 */
export function createTranscript(actions, { announce, afterDraw, best = false }) {
  const list = h('div', { class: 'lume-list' });
  const hiddenBar = h('div', { class: 'lume-hidden-bar', hidden: true },
    h('span', { class: 'lume-hidden-bar__text' }),
    button('Show all', null, () => actions.showAll(), { className: 'lume-btn--link' }));
  const emptyTitle = h('p', { class: 'lume-empty__title' });
  const empty = h('div', { class: 'lume-empty' },
    h('span', { class: 'lume-logo lume-logo--big', 'aria-hidden': 'true' }),
    emptyTitle,
    h('p', { class: 'lume-empty__hint', text: 'Ask a question below. Replies stream in as they are written.' }));
  // Older messages of a long consultation: asked for when this bar scrolls into view.
  let older = 0;
  let asked = -1;
  let atTop = false; // the bar is in view
  const askOlder = () => {
    if (older > 0 && asked !== older && actions.loadOlder) {
      asked = older;
      actions.loadOlder();
    }
  };
  // A click always asks: after a page that failed to come (the panel shows why), the same
  // count is asked again; scrolling asks once per count.
  const clickOlder = () => {
    asked = -1;
    askOlder();
  };
  const olderBar = h('div', { class: 'lume-older', hidden: true },
    h('span'), button('Load older', null, clickOlder, { className: 'lume-btn--link' }));
  const el = h('div', {
    class: 'lume-transcript', tabindex: '0', role: 'log', 'aria-live': 'off', 'aria-label': 'Conversation',
  }, olderBar, hiddenBar, empty, list);
  const seen = typeof IntersectionObserver === 'function'
    ? new IntersectionObserver((entries) => {
      atTop = entries[entries.length - 1].isIntersecting;
      if (atTop) askOlder();
    }, { root: el })
    : null;
  seen?.observe(olderBar);
  const highlighter = new LazyHighlighter(el);
  const state = { firstRender: true };
  const rows = new Map(); // key -> {el, draft?, user?}
  let floorKey = null; // oldest drawn row of a long history still being drawn
  let backfillTask = null;
  let lastItems = [];
  let ratings = {};

  function rowFor(item, retired, quiet = false) {
    const entry = buildRow(item, retired, quiet);
    // Rows that arrive while the panel is open rise in; a loaded history just appears.
    if (!state.firstRender && !quiet) entry.el.classList.add('lume-row--new');
    return entry;
  }

  function buildRow(item, retired, quiet) {
    if (item.kind === 'draft') {
      const draft = new DraftRow(item);
      return { el: draft.el, draft };
    }
    if (item.kind === 'pending_user') {
      const user = new PendingUserRow(item);
      return { el: user.el, draft: null, user };
    }
    const message = item.message;
    let draft = null;
    if (message.role === 'assistant') {
      const content = String(message.content ?? '');
      draft = retired.find((d) => d.text !== '' && content.startsWith(d.text)) || null;
      if (draft) {
        draft.update({ text: content, typing: false, streaming: false });
        retired.splice(retired.indexOf(draft), 1);
      }
      if (!state.firstRender && !quiet) {
        announce(message.status === 'stopped' ? 'Reply stopped.' : message.status === 'error' ? 'Reply interrupted.' : 'Reply finished.');
      }
    }
    // Older rows of a long history are drawn off screen: their code is coloured when seen.
    const rowEl = messageRow(message, announce, draft, { lazy: quiet });
    if (quiet) highlighter.watch(rowEl);
    if (message.role !== 'assistant' || !actions.rate) return { el: rowEl };
    const rating = ratingBar(String(message.id), actions.rate, { best });
    rating.update(ratings[message.id]);
    rowEl.querySelector('.lume-col').append(rating.el);
    return { el: rowEl, rating, id: String(message.id) };
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
    // Fresh rows before the drawn ones (an older page) are drawn above them, in slices.
    const drawn = items.findIndex((item) => rows.has(item.key));
    const start = drawn > 0 ? drawn : items.length - FIRST_ROWS;
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
    // Near the top, scroll anchoring may not hold the reader's place: hold it here.
    const top = el.scrollTop;
    const height = el.scrollHeight;
    list.insertBefore(fragment, anchor);
    if (top < el.clientHeight && el.scrollTop === top) el.scrollTop = top + el.scrollHeight - height;
    floorKey = at > 0 ? items[at].key : null;
    afterDraw();
    if (floorKey !== null) backfillTask = nextTask(backfill);
  }

  /** Draws `visible` (visibleItems of the reducer); `words` label the turn in flight. */
  function render(visible, { firstRender, words, ratings: rated, older: before = 0 }) {
    state.firstRender = firstRender;
    older = before;
    if (atTop) askOlder(); // still at the top once a page came: the next one
    olderBar.hidden = !older;
    olderBar.firstChild.textContent = `${older} older message${older === 1 ? '' : 's'}`;
    const ratingsChanged = (rated || {}) !== ratings;
    ratings = rated || {};
    visible = { ...visible, items: visible.items.map((item) => labelled(item, words)) };
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
      } else if (entry.user) {
        entry.user.update(item);
      } else if (entry.rating && ratingsChanged) {
        entry.rating.update(ratings[entry.id]);
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

  function destroy() {
    seen?.disconnect();
    if (backfillTask) backfillTask.cancel();
    backfillTask = null;
    highlighter.destroy();
    rows.clear();
  }

  return {
    el,
    render,
    destroy,
    itemCount: () => lastItems.length,
    setEmptyTitle: (text) => { emptyTitle.textContent = text; },
  };
}
