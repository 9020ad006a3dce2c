/**
 * Test page harness: mounts the built bundle (/static/widget.js) on a FakeModel exactly as
 * anywidget would (initialize, then render with {model, el}), and streams replies at a set
 * chunk rate while counting animation frames and long tasks.
 */
import widget from '/static/widget.js';
import { FakeModel } from '/browser/fake_model.js';

const host = document.getElementById('host');
const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

function streamTo(model, { turnId, text, chunkSize, rate, firstSeq = 1 }) {
  const chunks = [];
  for (let i = 0; i < text.length; i += chunkSize) chunks.push(text.slice(i, i + chunkSize));
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.min(chunks.length, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (sent < due) {
        model.pyCustom({ type: 'delta', turn_id: turnId, seq: firstSeq + sent, text: chunks[sent] });
        sent += 1;
      }
      if (sent >= chunks.length) {
        clearInterval(timer);
        resolve({ chunks: chunks.length, streamMs: performance.now() - start });
      }
    }, 5);
  });
}

const lume = {
  model: null,
  el: null,
  models: [],
  els: [],
  cleanups: [],

  /** `disconnected`: the view starts as ipywidgets marks one with no live comm. */
  mount(traits, { disconnected = false, history = null } = {}) {
    return this.mountMany(traits, 1, { disconnected, history });
  },

  /** Mounts `count` panels, each a view of its own model (`models`; `model` is the first).
   * `history`: `{all, window, page}`, a long consultation served as Python does (FakeModel). */
  mountMany(traits, count, { disconnected = false, history = null } = {}) {
    this.unmount();
    for (let i = 0; i < count; i += 1) {
      const model = new FakeModel(traits);
      if (history) model.serveHistory(history.all, history);
      const el = document.createElement('div');
      if (disconnected) el.classList.add('jupyter-widgets-disconnected');
      host.append(el);
      const disposeModel = widget.initialize({ model });
      const disposeView = widget.render({ model, el });
      this.models.push(model);
      this.els.push(el);
      this.cleanups.push(disposeView, disposeModel);
    }
    [this.model] = this.models;
    [this.el] = this.els;
    return true;
  },

  unmount() {
    for (const cleanup of this.cleanups) if (typeof cleanup === 'function') cleanup();
    for (const el of this.els) el.remove();
    // `model` stays: tests read what it saw after the view was cleaned up.
    Object.assign(this, { cleanups: [], models: [], els: [], el: null });
  },

  /** Runs `work` and reports the long tasks (>50 ms) and frames seen meanwhile. */
  async measure(work) {
    const longTasks = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) longTasks.push(entry.duration);
    });
    observer.observe({ entryTypes: ['longtask'] });
    let frames = 0;
    let counting = true;
    const tick = () => {
      frames += 1;
      if (counting) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    const start = performance.now();
    const result = await work();
    await nextFrame();
    await nextFrame();
    const elapsedMs = performance.now() - start;
    counting = false;
    await new Promise((resolve) => setTimeout(resolve, 120));
    for (const entry of observer.takeRecords()) longTasks.push(entry.duration);
    observer.disconnect();
    return { ...result, elapsedMs, frames, fps: frames / (elapsedMs / 1000), longTasks };
  },

  /** Sends `text` as deltas of `chunkSize` characters at `rate` deltas per second. */
  stream(options) {
    return streamTo(this.model, options);
  },

  /** The same stream to every mounted panel at once (each at `rate` deltas per second). */
  async streamAll(options) {
    const results = await Promise.all(this.models.map((model) => streamTo(model, options)));
    return { chunks: results.reduce((n, r) => n + r.chunks, 0), panels: results.length };
  },

  frames: nextFrame,

  /** Resolves after `n` idle periods: the panel warms its parser up in idle time. */
  async idle(n = 8) {
    for (let i = 0; i < n; i += 1) await new Promise((resolve) => requestIdleCallback(() => resolve()));
  },
};

window.lume = lume;
window.lumeReady = true;
