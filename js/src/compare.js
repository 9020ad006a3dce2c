/**
 * The comparison view: one composer over N columns, each column a chat view of one side's
 * model (ChatView: the same reducer, transcript and message views as the chat panel) in its
 * compact form: header with status and tier, replies with metrics and the rating row (with
 * the best-reply pick), and the side's own Stop. The composer sends one message to Python,
 * which sends it to every side.
 *
 * The columns stay aligned by turn: turn k starts at the same height in every column, however
 * long the replies before it, and the columns scroll together (`alignTurns`).
 */

import { createComposer } from './composer.js';
import { button, h } from './dom.js';
import { download } from './export.js';

/**
 * Lines up the columns turn by turn and scrolls them together. A column's sent messages are
 * matched to the comparison's `turns` by text, in order (as Python matches them for ratings),
 * so a turn a side never got leaves a gap. Each turn's first row gets the extra top margin that
 * brings it level with the lowest column; headers and list ends are evened out too, so equal
 * scroll offsets show the same turn. Re-run on every size change (streaming replies).
 */
function alignTurns(cols, turns) {
  const parts = cols.map((col) => ({
    head: col.querySelector('.lume-header'),
    scroller: col.querySelector('.lume-transcript'),
    list: col.querySelector('.lume-list'),
  }));
  let frame = 0;
  const schedule = () => { frame ||= requestAnimationFrame(run); };
  const resizes = new ResizeObserver(schedule);
  // Where the row's box is laid out, without the shift of its entrance animation (a new row
  // rises in from a few px below, lume-rise): measured mid-rise, a turn would stay that far
  // off level once the animation ends, and its end resizes nothing to re-run the alignment.
  const shift = (el) => {
    const t = getComputedStyle(el).transform;
    return t && t !== 'none' ? new DOMMatrixReadOnly(t).m42 : 0;
  };
  const y = (el, p) => el.getBoundingClientRect().top - shift(el) - p.scroller.getBoundingClientRect().top + p.scroller.scrollTop;
  // Space this view added to an element. Each pass measures with it in place and only
  // changes it (never resets it first: a transient reset would clamp the scroll offsets).
  const added = new WeakMap();
  const even = (els, prop, measure) => {
    const at = els.map((el, i) => el && measure(el, i) - (added.get(el) || 0));
    const max = Math.max(...at.filter((v) => v !== undefined));
    els.forEach((el, i) => {
      const v = el && max - at[i] > 0.5 ? max - at[i] : 0;
      if (el && Math.abs(v - (added.get(el) || 0)) > 0.25) {
        added.set(el, v);
        el.style[prop] = v ? `${v}px` : '';
      }
    });
  };
  function run() {
    frame = 0;
    even(parts.map((p) => p.head), 'marginBottom', (el, i) => parts[i].scroller.getBoundingClientRect().top);
    const all = turns();
    const starts = parts.map((p) => {
      const out = [];
      let at = 0;
      for (const row of p.list.querySelectorAll(':scope > .lume-row--user:not([data-status=unsent])')) {
        const k = all.indexOf(row.querySelector('.lume-text')?.textContent, at);
        if (k >= 0) { out[k] = row; at = k + 1; }
      }
      return out;
    });
    for (let k = 0; k < all.length; k++) {
      even(starts.map((s) => s[k]), 'marginTop', (el, i) => y(el, parts[i]));
    }
    even(parts.map((p) => p.list), 'paddingBottom', (el) => el.scrollHeight);
    for (const p of parts) for (const row of p.list.children) resizes.observe(row);
  }
  // The column the reader last touched leads; the others follow it (never the other way
  // round, so a column that cannot scroll as far never pulls the reader back).
  let lead = parts[0]?.scroller;
  const onInput = (event) => { lead = event.currentTarget; };
  // At its bottom, the lead takes every column to its own bottom: the list ends are evened,
  // so that is the same offset, and a column that grew a frame before the others' ends are
  // evened again is not pulled up off its bottom (its autoscroll would take that for the reader).
  const below = (s) => s.scrollHeight - s.scrollTop - s.clientHeight;
  const onScroll = (event) => {
    if (event.currentTarget !== lead) return;
    const bottom = below(lead) <= 1;
    for (const p of parts) {
      const s = p.scroller;
      if (bottom ? below(s) > 1 : Math.abs(s.scrollTop - lead.scrollTop) >= 1) s.scrollTop = bottom ? s.scrollHeight : lead.scrollTop;
    }
  };
  for (const p of parts) {
    resizes.observe(p.list);
    p.scroller.addEventListener('scroll', onScroll, { passive: true });
    for (const name of ['wheel', 'pointerdown', 'touchstart', 'keydown']) p.scroller.addEventListener(name, onInput, { passive: true });
  }
  schedule();
  return { schedule, destroy: () => { resizes.disconnect(); cancelAnimationFrame(frame); } };
}

/** Draws the comparison of `model` in `el`; `ChatView` draws one side. Returns a cleanup. */
export function renderCompare(model, el, ChatView) {
  const views = [];
  let gone = false;
  let aligner = null;
  const composer = createComposer({
    send: (text) => model.send({ type: 'send', text }),
    stop: () => model.send({ type: 'stop' }),
    sent: () => {},
  }, { hintId: `lume-compare-hint-${Math.random().toString(36).slice(2)}` });
  const cols = h('div', { class: 'lume-compare__cols' });
  const save = button('Save as scenario', 'save', () => model.send({ type: 'save_scenario' }), { className: 'lume-btn--ghost' });
  const root = h('div', { class: 'lume-chat lume-compare', 'data-lm-suppress-shortcuts': 'true' },
    cols, composer.el, h('div', { class: 'lume-compare__tools' }, save));
  const onCustom = (m) => { if (m && m.type === 'scenario') download(String(m.text), String(m.name), 'application/yaml'); };
  model.on('msg:custom', onCustom);
  el.append(root);
  const draw = () => {
    const n = (model.get('sides') || []).length;
    root.style.setProperty('--lume-sides', String(Math.min(Math.max(n, 1), 4)));
    composer.render({
      pending: model.get('busy') ? {} : null,
      input_enabled: model.get('input_enabled'),
      input_disabled_reason: 'Connecting the sides...',
      error: model.get('error'),
      placeholder: 'Message every side',
    });
  };
  const onChange = () => { draw(); aligner?.schedule(); };
  for (const name of ['busy', 'input_enabled', 'error', 'sides', 'turns']) model.on(`change:${name}`, onChange);
  draw();
  const labels = model.get('labels') || [];
  Promise.all((model.get('sides') || []).map((ref) => model.widget_manager.get_model(String(ref).replace(/^IPY_MODEL_/, ''))))
    .then((sides) => {
      if (gone) return;
      sides.forEach((side, i) => {
        const col = h('section', { class: 'lume-compare__col', 'aria-label': labels[i] || `Side ${i + 1}` });
        cols.append(col);
        views.push(new ChatView(side, col, { compact: true, title: labels[i] }));
      });
      aligner = alignTurns([...cols.children], () => model.get('turns') || []);
    })
    .catch((error) => {
      cols.textContent = `The sides could not be shown: ${error}`;
    });
  return () => {
    gone = true;
    model.off('msg:custom', onCustom);
    for (const name of ['busy', 'input_enabled', 'error', 'sides', 'turns']) model.off(`change:${name}`, onChange);
    aligner?.destroy();
    for (const view of views) view.destroy();
    root.remove();
  };
}
