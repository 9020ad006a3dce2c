/**
 * A stand-in for the anywidget model, so browser tests can drive the chat panel directly:
 * get/set/on/off/send/save_changes as anywidget gives them to a widget, plus `pySet` and
 * `pyCustom` to play the Python side (trait changes and custom messages).
 */
export class FakeModel {
  constructor(traits) {
    this.traits = structuredClone(traits);
    this.listeners = new Map();
    this.sent = [];
    this.saved = [];
    this.dirty = new Set();
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
    for (const [name, value] of Object.entries(changes)) this.traits[name] = structuredClone(value);
    for (const [name, value] of Object.entries(changes)) this.emit(`change:${name}`, this, value);
  }

  /** Python sent a custom message. */
  pyCustom(message) {
    this.emit('msg:custom', structuredClone(message), []);
  }
}
