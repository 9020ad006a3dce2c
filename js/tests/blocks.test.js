// The chain of message blocks: walked from `newest`, filled from the draft, re-walked on change.
import { describe, expect, it } from 'vitest';
import { BlockChain, filled } from '../src/blocks.js';

class Model {
  constructor(attrs, manager) {
    Object.assign(this, { attrs, manager, handlers: {}, widget_manager: manager });
  }
  get(name) { return this.attrs[name]; }
  set(name, value) { this.attrs[name] = value; this.emit(`change:${name}`); }
  on(event, fn) { (this.handlers[event] ||= []).push(fn); }
  off(event, fn) { this.handlers[event] = (this.handlers[event] || []).filter((f) => f !== fn); }
  emit(event) { for (const fn of this.handlers[event] || []) fn(); }
}

function manager() {
  const models = new Map();
  return {
    models,
    lookups: 0,
    get_model(id) {
      this.lookups += 1;
      return models.has(id) ? Promise.resolve(models.get(id)) : Promise.reject(new Error('gone'));
    },
    block(id, messages, previous = null) {
      models.set(id, new Model({ messages, previous: previous && `IPY_MODEL_${previous}` }, this));
      return `IPY_MODEL_${id}`;
    },
  };
}

const msg = (id, content = id, extra = {}) => ({ id, role: 'assistant', content, ...extra });
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(draft = null) {
  const m = manager();
  const panel = new Model({ newest: null }, m);
  const seen = [];
  const sent = [];
  const chain = new BlockChain(panel, (messages) => seen.push(messages.map((x) => x.content)), () => draft, (c) => sent.push(c));
  return { m, panel, seen, sent, chain, setDraft: (d) => { draft = d; } };
}

describe('BlockChain', () => {
  it('walks previous from newest and reports the messages oldest first', async () => {
    const { m, panel, seen } = setup();
    m.block('b1', [msg('a'), msg('b')]);
    m.block('b2', [msg('c')], 'b1');
    panel.set('newest', m.block('b3', [msg('d')], 'b2'));
    await settle();
    expect(seen.at(-1)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('resolves each block once: a new turn costs one lookup', async () => {
    const { m, panel, seen } = setup();
    m.block('b1', [msg('a')]);
    panel.set('newest', m.block('b2', [msg('b')], 'b1'));
    await settle();
    const before = m.lookups;
    panel.set('newest', m.block('b3', [msg('c')], 'b2'));
    await settle();
    expect(m.lookups - before).toBe(1);
    expect(seen.at(-1)).toEqual(['a', 'b', 'c']);
  });

  it('follows a changed previous: an older page put first, or the oldest dropped', async () => {
    const { m, panel, seen } = setup();
    panel.set('newest', m.block('b2', [msg('c')]));
    await settle();
    m.block('b1', [msg('a'), msg('b')]);
    m.models.get('b2').set('previous', 'IPY_MODEL_b1');
    await settle();
    expect(seen.at(-1)).toEqual(['a', 'b', 'c']);
    m.models.get('b2').set('previous', null);
    await settle();
    expect(seen.at(-1)).toEqual(['c']);
  });

  it('fills a streamed reply from the draft of its turn and seq, locally', async () => {
    const { m, panel, seen, sent } = setup({ turn_id: 't1', seq: 3, text: 'streamed text' });
    panel.set('newest', m.block('b1', [msg('u', 'hi'), msg('r', null, { turn_id: 't1', seq: 3 })]));
    await settle();
    expect(seen.at(-1)).toEqual(['hi', 'streamed text']);
    expect(m.models.get('b1').get('messages')[1].content).toBe('streamed text');
    expect(sent).toEqual([]);
  });

  it('asks for the block again when its draft is not that turn at that seq', async () => {
    const { m, panel, seen, sent } = setup({ turn_id: 't1', seq: 2, text: 'part' });
    panel.set('newest', m.block('b1', [msg('u', 'hi'), msg('r', null, { turn_id: 't1', seq: 3 })]));
    await settle();
    expect(sent).toEqual([{ type: 'resend', id: 'b1' }]);
    expect(seen.at(-1)).toEqual(['hi']);
    m.models.get('b1').set('messages', [msg('u', 'hi'), msg('r', 'whole text')]);
    await settle();
    expect(seen.at(-1)).toEqual(['hi', 'whole text']);
  });

  it('stops at a block that is gone and ends cleanly on destroy', async () => {
    const { m, panel, seen, chain } = setup();
    panel.set('newest', m.block('b2', [msg('b')], 'missing'));
    await settle();
    expect(seen.at(-1)).toEqual(['b']);
    chain.destroy();
    panel.set('newest', m.block('b3', [msg('c')], 'b2'));
    await settle();
    expect(seen.at(-1)).toEqual(['b']);
  });
});

describe('filled', () => {
  it('leaves messages with text alone and returns the same array', () => {
    const list = [msg('a'), msg('b')];
    expect(filled(list, null)).toBe(list);
  });
});
