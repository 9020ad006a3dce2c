/**
 * The finished messages of a panel: a chain of block models (docs/widget-protocol.md).
 *
 * The panel's `newest` trait references (`IPY_MODEL_<id>`) the newest block; each block is a
 * plain widget model with `messages` and `previous` (the block before it, or null). The chain
 * is walked from the newest block, resolving each reference once with the widget manager,
 * and reported as one list, oldest first, whenever `newest` or a block's `previous` changes.
 *
 * A block opened for a streamed reply leaves its text out (`content: null`, with the reply's
 * `turn_id` and last delta `seq`): the view holds it from the deltas and fills it in locally
 * (model.set without saving, so a notebook saved from this page holds the text). A view that
 * lacks it asks for the block again (`{type: "resend", id}`).
 */

const refId = (value) => (value ? String(value).replace(/^IPY_MODEL_/, '') : null);

/** `messages` with the text of streamed replies filled in from `draft`; null if one is missing. */
export function filled(messages, draft) {
  let out = messages;
  for (const [i, m] of messages.entries()) {
    if (m.content !== null || m.turn_id === undefined) continue;
    if (draft?.turn_id !== m.turn_id || draft.seq !== m.seq) return null;
    if (out === messages) out = [...messages];
    out[i] = { ...m, content: draft.text };
  }
  return out;
}

export class BlockChain {
  /**
   * @param model the panel's model (its `widget_manager` resolves references)
   * @param {(messages: object[]) => void} changed called with every message, oldest first
   * @param {() => object | null} draft the view's draft (the reply streamed so far)
   * @param {(content: object) => void} send a custom message to Python
   */
  constructor(model, changed, draft, send) {
    Object.assign(this, { model, changed, draft, send, blocks: new Map(), walks: 0, asked: new Set() });
    this.walk = this.walk.bind(this);
    model.on('change:newest', this.walk);
    this.walk();
  }

  listen(block, on) {
    for (const name of ['change:previous', 'change:messages']) block[on ? 'on' : 'off'](name, this.walk);
  }

  /** Walks the chain; synchronous when every block is known (a new turn's block is one await). */
  async walk() {
    const walk = ++this.walks;
    const chain = [];
    const seen = new Set();
    for (let id = refId(this.model.get('newest')); id && !seen.has(id);) {
      seen.add(id);
      let block = this.blocks.get(id);
      if (!block) {
        block = await this.model.widget_manager?.get_model(id)?.catch(() => null);
        if (walk !== this.walks) return;
        if (!block) break; // closed meanwhile: the chain ends here until it changes again
        this.blocks.set(id, block);
        this.listen(block, true);
      }
      chain.unshift([id, block]);
      id = refId(block.get('previous'));
    }
    for (const [id, block] of this.blocks) {
      if (!seen.has(id)) {
        this.listen(block, false);
        this.blocks.delete(id);
      }
    }
    const messages = [];
    for (const [id, block] of chain) {
      const own = block.get('messages') || [];
      const full = filled(own, this.draft());
      if (full !== own && full) {
        block.set('messages', full); // local only (never saved): walks again, complete
        return;
      }
      if (!full && !this.asked.has(id)) {
        this.asked.add(id);
        this.send({ type: 'resend', id });
      }
      messages.push(...(full || own.filter((m) => m.content !== null)));
    }
    this.changed(messages);
  }

  destroy() {
    this.walks += 1;
    this.model.off('change:newest', this.walk);
    for (const block of this.blocks.values()) this.listen(block, false);
    this.blocks.clear();
  }
}
