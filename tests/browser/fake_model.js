/**
 * A stand-in for the anywidget model, so browser tests can drive the chat panel directly:
 * get/set/on/off/send/save_changes as anywidget gives them to a widget, plus `pySet` and
 * `pyCustom` to play the Python side (trait changes and custom messages).
 *
 * Finished messages reach the panel as Python sends them: a chain of block models that the
 * `newest` trait references (docs/widget-protocol.md). Tests may still give a `messages`
 * list (to the constructor or `pySet`): it becomes a chain of blocks of `blockSize`
 * messages in `widget_manager`, and `newest` moves to it.
 */
export class FakeManager {
  constructor() {
    this.models = new Map();
    this.next = 0;
  }

  get_model(id) {
    const model = this.models.get(id);
    return model ? Promise.resolve(model) : Promise.reject(new Error(`no model ${id}`));
  }

  /** Opens blocks for `messages` (oldest first) after `previous`; returns the newest ref. */
  openBlocks(messages, previous = null, blockSize = 100) {
    let ref = previous;
    for (let i = 0; i < messages.length; i += blockSize) {
      this.next += 1;
      const id = `block-${this.next}`;
      this.models.set(id, new FakeModel({ messages: messages.slice(i, i + blockSize), previous: ref }, this));
      ref = `IPY_MODEL_${id}`;
    }
    return ref;
  }
}

export class FakeModel {
  constructor(traits, manager = new FakeManager()) {
    this.widget_manager = manager;
    traits = structuredClone(traits);
    if (Array.isArray(traits.messages) && !('previous' in traits)) {
      traits.newest = manager.openBlocks(traits.messages);
      delete traits.messages;
    }
    this.traits = traits;
    this.listeners = new Map();
    this.sent = [];
    this.saved = [];
    this.dirty = new Set();
  }

  /** The finished messages its chain of blocks holds, oldest first (Python's `messages`). */
  chainMessages() {
    const out = [];
    for (let ref = this.traits.newest; ref;) {
      const block = this.widget_manager.models.get(String(ref).replace(/^IPY_MODEL_/, ''));
      if (!block) break;
      out.unshift(...block.traits.messages);
      ref = block.traits.previous;
    }
    return out;
  }

  get(name) {
    return this.traits[name];
  }

  /** Like Backbone: the value changes now and `change:<name>` fires synchronously. */
  set(name, value) {
    this.traits[name] = value;
    this.dirty.add(name);
    this.emit(`change:${name}`, this, value);
  }

  save_changes() {
    const changes = {};
    for (const name of this.dirty) changes[name] = this.traits[name];
    this.dirty.clear();
    this.saved.push(changes);
  }

  on(event, callback) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(callback);
  }

  off(event, callback) {
    if (event === undefined) {
      this.listeners.clear();
      return;
    }
    if (callback === undefined) {
      this.listeners.delete(event);
      return;
    }
    const list = this.listeners.get(event) || [];
    this.listeners.set(event, list.filter((cb) => cb !== callback));
  }

  send(content) {
    this.sent.push(structuredClone(content));
  }

  emit(event, ...args) {
    for (const callback of [...(this.listeners.get(event) || [])]) callback(...args);
  }

  listenerCount() {
    let n = 0;
    for (const list of this.listeners.values()) n += list.length;
    return n;
  }

  /** Python changed traits: apply them all, then fire their change events in order. */
  pySet(changes) {
    if (Array.isArray(changes.messages)) {
      const { messages, ...rest } = changes;
      changes = { newest: this.widget_manager.openBlocks(messages), ...rest };
    }
    for (const [name, value] of Object.entries(changes)) this.traits[name] = structuredClone(value);
    for (const [name, value] of Object.entries(changes)) this.emit(`change:${name}`, this, value);
  }

  /** Python sent a custom message. */
  pyCustom(message) {
    this.emit('msg:custom', structuredClone(message), []);
  }
}
