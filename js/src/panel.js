/**
 * The chat panel: the header, the transcript, the composer and two drawers (consultations,
 * explore), each a view of its own module with its own small state, put together here.
 *
 * Thin on purpose: it draws what `render(traits, visible)` is given and reports user intents
 * through the `actions` callbacks; the controller (index.js) owns the model and the reducer.
 * State kept here: which drawer is open (one at a time), and where focus goes when a control
 * under it turns disabled. Escape is handled here, in the capture phase, before any control
 * of the panel (or the notebook around it) sees it: it stops a reply, else closes a drawer.
 */

import { createComposer } from './composer.js';
import { createConsultations } from './consultations.js';
import { h, icon } from './dom.js';
import { createExplore } from './explore.js';
import { humanize, statusWords } from './format.js';
import { createHeader } from './header.js';
import { AutoScroll } from './scroll.js';
import { createTranscript } from './transcript_view.js';

export { nextTask } from './transcript_view.js';

let panelCount = 0;

/**
 * Builds the panel inside `root`. `actions`: send(text), stop(), retry(), newConsultation(),
 * completeOldest(), clearView(), showAll(), setPersona(name), setGoal(id), refreshGoals(), pinTier(tier),
 * simulateDrop(), setFaults(faults), listConsultations(), openConsultation(id),
 * completeConsultation(id), deleteConsultation(id), download(), rate(id, value), saveScenario(),
 * loadOlder().
 * `compact` (a comparison's column): header and Stop only, the best-reply pick on ratings;
 * `title` names the column. Returns {render(traits, visible), destroy(), announce, element}.
 */
export function createPanel(root, actions, { compact = false, title = '' } = {}) {
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

  const header = createHeader({
    setPersona: (name) => actions.setPersona(name),
    setGoal: (id) => actions.setGoal(id),
    refreshGoals: () => actions.refreshGoals(),
    newConsultation: () => actions.newConsultation(),
    clearView: () => actions.clearView(),
    download: () => actions.download(),
    saveScenario: () => actions.saveScenario(),
    toggleDrawer: (name) => setDrawer(openDrawer === name ? null : name),
  });
  const transcript = createTranscript(
    { showAll: () => actions.showAll(), rate: (id, value) => actions.rate(id, value), loadOlder: () => actions.loadOlder() },
    { announce, afterDraw: () => scroll.afterRender(), best: compact },
  );
  const jump = h('button', { type: 'button', class: 'lume-jump', hidden: true }, icon('down'), h('span', { text: 'Jump to latest' }));
  const drawers = {
    explore: createExplore({
      pinTier: (tier) => actions.pinTier(tier),
      simulateDrop: () => actions.simulateDrop(),
      setFaults: (faults) => actions.setFaults(faults),
      close: () => setDrawer(null),
    }),
    consultations: createConsultations({
      refresh: () => actions.listConsultations(),
      open: (id) => actions.openConsultation(id),
      complete: (id) => actions.completeConsultation(id),
      remove: (id) => actions.deleteConsultation(id),
      close: () => setDrawer(null),
    }),
  };
  const body = h('div', { class: 'lume-body' }, transcript.el, jump, drawers.consultations.el, drawers.explore.el);
  const composer = createComposer({
    send: (text) => actions.send(text),
    stop: () => actions.stop(),
    retry: () => actions.retry(),
    newConsultation: () => actions.newConsultation(),
    completeOldest: () => actions.completeOldest(),
    sent: () => scroll.toBottom(),
  }, { hintId });

  const panel = h('div', { class: `lume-chat${compact ? ' lume-chat--compact' : ''}`, 'data-lm-suppress-shortcuts': 'true' },
    ...header.els, body, composer.el, live);
  root.append(panel);
  const scroll = new AutoScroll(transcript.el, jump);

  let lastTraits = {};
  let firstRender = true;
  let openDrawer = null;

  function setDrawer(name) {
    const before = openDrawer;
    openDrawer = name;
    for (const [key, drawer] of Object.entries(drawers)) {
      const open = key === name;
      drawer.el.hidden = !open;
      header.drawerButtons[key].setAttribute('aria-expanded', String(open));
      header.drawerButtons[key].classList.toggle('lume-btn--active', open);
    }
    if (name) {
      const drawer = drawers[name];
      drawer.update(lastTraits);
      if (drawer.opened) drawer.opened();
      drawer.focus();
    } else if (before && (panel.contains(document.activeElement) || document.activeElement === document.body)) {
      header.drawerButtons[before].focus();
    }
  }

  const onKeydown = (event) => {
    if (event.key !== 'Escape') return;
    if (lastTraits.pending) {
      event.preventDefault();
      event.stopPropagation();
      actions.stop();
    } else if (openDrawer) {
      event.preventDefault();
      event.stopPropagation();
      setDrawer(null);
    }
  };
  panel.addEventListener('keydown', onKeydown, true);

  /**
   * A control that turns disabled or hidden under focus drops it to the page, where Escape
   * and typing no longer reach the panel: keep it inside (the open drawer, else the box).
   */
  function keepFocus(hadFocus) {
    if (!hadFocus) return;
    const active = document.activeElement;
    if (active && active !== document.body && !panel.contains(active)) return; // moved on
    if (active && active !== document.body && !active.disabled && active.offsetParent !== null) return;
    const target = openDrawer ? drawers[openDrawer].el : composer.input;
    target.focus({ preventScroll: true });
  }

  function render(traits, visible) {
    const hadFocus = panel.contains(document.activeElement);
    const prev = lastTraits;
    lastTraits = traits;
    const words = statusWords(traits);
    header.render(traits, { announce, quiet: firstRender, itemCount: visible.items.length, title });
    composer.render(traits);
    transcript.setEmptyTitle(`Chat with ${humanize(traits.persona) || 'Lume'}`);
    transcript.render(visible, { firstRender, words, ratings: traits.ratings, older: traits.kernel_gone ? 0 : traits.older });
    if (openDrawer) drawers[openDrawer].update(traits);
    if (traits.kernel_gone && openDrawer === 'consultations') setDrawer(null);
    if (traits.error && traits.error !== prev.error && !firstRender) announce(`Error: ${traits.error}`);
    panel.dataset.status = traits.status || '';
    panel.dataset.tier = traits.tier || '';
    scroll.afterRender();
    keepFocus(hadFocus);
    firstRender = false;
  }

  function destroy() {
    clearTimeout(announceTimer);
    transcript.destroy();
    scroll.destroy();
    panel.removeEventListener('keydown', onKeydown, true);
    panel.remove();
  }

  return { render, destroy, announce, element: panel };
}
