/**
 * The comparison view: one composer over N columns, each column a chat view of one side's
 * model (ChatView: the same reducer, transcript and message views as the chat panel) in its
 * compact form: header with status and tier, replies with metrics and the rating row (with
 * the best-reply pick), and the side's own Stop. The composer sends one message to Python,
 * which sends it to every side.
 */

import { createComposer } from './composer.js';
import { button, h } from './dom.js';
import { download } from './export.js';

/** Draws the comparison of `model` in `el`; `ChatView` draws one side. Returns a cleanup. */
export function renderCompare(model, el, ChatView) {
  const views = [];
  let gone = false;
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
      persona: 'every side',
    });
  };
  const onChange = () => draw();
  for (const name of ['busy', 'input_enabled', 'error', 'sides']) model.on(`change:${name}`, onChange);
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
    })
    .catch((error) => {
      cols.textContent = `The sides could not be shown: ${error}`;
    });
  return () => {
    gone = true;
    model.off('msg:custom', onCustom);
    for (const name of ['busy', 'input_enabled', 'error', 'sides']) model.off(`change:${name}`, onChange);
    for (const view of views) view.destroy();
    root.remove();
  };
}
