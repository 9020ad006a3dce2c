/**
 * The anywidget entry of lume_widget's chat panel: `{initialize, render}`.
 *
 * `render` wires one view: model traits and custom messages go through the pure transcript
 * reducer (transcript.js), the panel (panel.js) draws the result at most once per animation
 * frame, and the user's intents go back as trait writes or custom messages, exactly as
 * docs/widget-protocol.md says. Both functions return their cleanup.
 */

import './styles.css';
import { BlockChain } from './blocks.js';
import { download, exportName, toMarkdown } from './export.js';
import { mountGoalForm } from './goals.js';
import { warmUp } from './markdown.js';
import { renderCompare } from './compare.js';
import { createPanel } from './panel.js';
import { withRating } from './rating.js';
import { fromTraits, reduce, visibleItems } from './transcript.js';

/** Traits the panel draws; a change to any of them schedules a frame (the finished messages
 * come from the chain of blocks `newest` references: blocks.js). */
export const TRAITS = [
  'newest', 'pending', 'status', 'status_reason', 'tier', 'tier_reason', 'pinned_tier',
  'persona', 'personas', 'goal_id', 'goals', 'consultation_id', 'input_enabled',
  'input_disabled_reason', 'error', 'unsent_text', 'server_kind', 'faults', 'error_action',
  'consultations', 'ratings', 'older',
];

/** Class ipywidgets puts on a view whose model has no live comm (kernel restarted or gone). */
export const DISCONNECTED_CLASS = 'jupyter-widgets-disconnected';
export const KERNEL_RESTARTED = 'The kernel restarted: run the cell again.';
export const COMM_CLOSED = 'This chat was closed in the kernel: run the cell again.';
export const NO_KERNEL = 'This panel is not connected to a running kernel: run the cell again.';

/**
 * What the panel shows once the kernel side is gone: offline with the reason, nothing in
 * flight (never "Streaming" for a kernel that is gone), input disabled with that reason.
 */
export function withLinkLost(traits, reason) {
  if (!reason) return traits;
  return {
    ...traits,
    status: 'offline',
    status_reason: reason,
    pending: null,
    input_enabled: false,
    input_disabled_reason: reason,
    kernel_gone: true,
  };
}

/** How long a gap may wait for the snapshot we asked for before we ask again (ms). */
const RESYNC_AFTER_MS = 2000;

const nextFrame = (callback) =>
  typeof requestAnimationFrame === 'function' ? requestAnimationFrame(callback) : setTimeout(callback, 16);
const cancelFrame = (handle) =>
  typeof cancelAnimationFrame === 'function' ? cancelAnimationFrame(handle) : clearTimeout(handle);

/** One view of the model: the reducer state, the panel, and the model listeners. */
export class ChatView {
  constructor(model, el, options = {}) {
    this.model = model;
    this.frame = 0;
    this.lastSyncAt = 0;
    this.el = el;
    this.linkLost = '';
    this.state = fromTraits([], model.get('pending') || null);
    this.panel = createPanel(el, {
      send: (text) => this.send({ type: 'send', text }),
      stop: () => this.send({ type: 'stop' }),
      retry: () => this.send({ type: 'retry' }),
      newConsultation: () => this.send({ type: 'new_consultation' }),
      completeOldest: () => this.send({ type: 'complete_oldest' }),
      refreshGoals: () => this.send({ type: 'refresh_goals' }),
      listConsultations: () => this.send({ type: 'list_consultations' }),
      openConsultation: (id) => this.send({ type: 'open_consultation', id }),
      completeConsultation: (id) => this.send({ type: 'complete_consultation', id }),
      deleteConsultation: (id) => this.send({ type: 'delete_consultation', id }),
      download: () => {
        const traits = this.traits();
        download(toMarkdown(traits), exportName(traits));
      },
      rate: (id, value) => this.write('ratings', withRating(this.model.get('ratings'), id, value)),
      saveScenario: () => this.send({ type: 'save_scenario' }),
      simulateDrop: () => this.send({ type: 'simulate_drop' }),
      setFaults: (faults) => this.send({ type: 'set_faults', faults }),
      clearView: () => this.dispatch({ type: 'clear_view' }),
      showAll: () => this.dispatch({ type: 'show_all' }),
      setPersona: (name) => this.write('persona', name),
      setGoal: (id) => this.write('goal_id', id),
      pinTier: (tier) => this.write('pinned_tier', tier),
    }, options);
    this.goalForm = mountGoalForm(model, this.panel);
    this.onCustom = (message) => this.receive(message);
    this.onPending = () => this.dispatch({ type: 'pending', pending: model.get('pending') || null });
    this.onTrait = () => this.schedule();
    // ipywidgets marks a model whose comm is gone (kernel restarting, or a page restored
    // from saved state with no kernel behind it) on the model and with a class on the view.
    this.onCommLost = () => this.lose(KERNEL_RESTARTED);
    model.on('comm_live_update', this.onCommLost);
    this.onCommClosed = () => this.lose(COMM_CLOSED);
    model.on('comm:close', this.onCommClosed);
    this.classWatch = typeof MutationObserver === 'function'
      ? new MutationObserver(() => { if (el.classList.contains(DISCONNECTED_CLASS)) this.lose(KERNEL_RESTARTED); })
      : null;
    this.classWatch?.observe(el, { attributes: true, attributeFilter: ['class'] });
    model.on('msg:custom', this.onCustom);
    model.on('change:pending', this.onPending);
    for (const name of TRAITS.slice(2)) model.on(`change:${name}`, this.onTrait);
    this.chain = new BlockChain(model, (messages) => {
      this.dispatch({ type: 'messages', messages, initial: !this.loaded });
      this.loaded = true;
    },
      () => this.state.draft, (content) => this.send(content));
    if (el.classList.contains(DISCONNECTED_CLASS)) this.lose(NO_KERNEL);
    // Custom messages sent before this view listened are lost: ask for the draft so far.
    else this.requestSync();
    // A request can be lost too (a view restored after a reload may send it before the
    // kernel side listens): while a reply is in flight and no snapshot came, ask again.
    this.resyncTimer = setInterval(() => this.checkSync(), RESYNC_AFTER_MS);
    this.schedule();
    warmUp();
  }

  send(content) {
    if (this.linkLost) return; // nobody is listening: the panel already says so
    this.model.send(content);
  }

  /** The kernel side is gone: say why, end the turn in flight, stop asking for snapshots. */
  lose(reason) {
    if (this.linkLost) return;
    this.linkLost = reason;
    clearInterval(this.resyncTimer);
    this.dispatch({ type: 'link_lost' });
  }

  write(name, value) {
    if (this.linkLost) return;
    this.model.set(name, value);
    this.model.save_changes();
  }

  requestSync() {
    if (this.linkLost) return;
    this.lastSyncAt = Date.now();
    this.model.send({ type: 'sync_request' });
    this.state = reduce(this.state, { type: 'sync_requested' });
  }

  checkSync() {
    if (this.linkLost) return;
    const waiting = this.state.awaitingSnapshot && this.state.pending;
    if (waiting && Date.now() - this.lastSyncAt >= RESYNC_AFTER_MS) this.requestSync();
  }

  receive(message) {
    if (message && message.type === 'scenario') {
      download(String(message.text), String(message.name), 'application/yaml');
      return;
    }
    if (!message || (message.type !== 'delta' && message.type !== 'snapshot')) return;
    this.dispatch(message);
    const draft = this.state.draft;
    const stuck = this.state.awaitingSnapshot && draft && Object.keys(draft.early).length > 0;
    if (stuck && Date.now() - this.lastSyncAt > RESYNC_AFTER_MS) this.requestSync();
  }

  dispatch(action) {
    this.state = reduce(this.state, action);
    if (this.state.needsSync) this.requestSync();
    this.schedule();
  }

  traits() {
    const traits = {};
    for (const name of TRAITS) traits[name] = this.model.get(name);
    traits.messages = this.state.messages;
    return withLinkLost(traits, this.linkLost);
  }

  schedule() {
    if (this.frame) return;
    this.frame = nextFrame(() => {
      this.frame = 0;
      this.panel.render(this.traits(), visibleItems(this.state));
    });
  }

  destroy() {
    clearInterval(this.resyncTimer);
    if (this.frame) cancelFrame(this.frame);
    this.frame = 0;
    this.classWatch?.disconnect();
    this.model.off('comm_live_update', this.onCommLost);
    this.model.off('comm:close', this.onCommClosed);
    this.model.off('msg:custom', this.onCustom);
    this.chain.destroy();
    this.model.off('change:pending', this.onPending);
    for (const name of TRAITS.slice(2)) this.model.off(`change:${name}`, this.onTrait);
    this.goalForm.destroy();
    this.panel.destroy();
  }
}

/**
 * Model-level setup, once per widget: checks that the Python side speaks the protocol this
 * bundle was built for, so a stale install says so instead of drawing an empty panel.
 */
function initialize({ model }) {
  if (model.get('sides') !== undefined) return () => {};
  const missing = TRAITS.filter((name) => model.get(name) === undefined);
  if (missing.length) {
    console.warn(
      `lume_widget: the Python model lacks the traits ${missing.join(', ')}; the Python package and ` +
        'its bundled front end do not match. Reinstall lume-widget and restart the kernel.',
    );
  }
  return () => {};
}

function render({ model, el }) {
  if (model.get('sides') !== undefined) return renderCompare(model, el, ChatView);
  const view = new ChatView(model, el);
  return () => view.destroy();
}

export default { initialize, render };
