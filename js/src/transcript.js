/**
 * The transcript reducer: what the panel shows, as a pure function of (state, action).
 *
 * Theory of operation (docs/widget-protocol.md):
 * - Finished messages come from the `messages` trait; the turn in flight from `pending`.
 * - The reply being streamed arrives as custom messages: `delta` (text to append, `seq`
 *   growing by one per flush) and `snapshot` (the whole draft so far, the answer to our
 *   `sync_request`). A delta with `seq` <= the applied one is a duplicate and ignored; a
 *   delta past a gap waits in a small buffer until the gap is filled or a snapshot covers
 *   it, and a gap we are not already waiting on asks the view for a new snapshot.
 * - A turn's messages are the ones that land in `messages` after its `base` (the last
 *   message that existed before the turn). Once the turn's assistant message is there, the
 *   draft is replaced by it, whatever order the `messages` and `pending` changes arrive in.
 * - "Clear view" hides the messages shown so far; it is front-end state only.
 *
 * No DOM, no clock, no model: the view feeds actions in and renders `visibleItems(state)`.
 */

/** Gap buffer bound: past this many out-of-order deltas we stop buffering and resync. */
export const MAX_BUFFERED_DELTAS = 512;

/** @typedef {{id: string, role: string, content: string, created_at?: string, status?: string, metrics?: object}} Message */
/** @typedef {{turn_id: string, user_text: string, started_at?: string}} Pending */
/**
 * @typedef {object} Draft
 * @property {string} turn_id
 * @property {number} seq       last applied sequence number (0: nothing yet)
 * @property {string} text      the reply so far
 * @property {number} deltas    deltas applied (for the metrics of a live reply)
 * @property {Record<number, string>} early  deltas past a gap, by seq
 * @property {boolean} settling pending is gone, the finished message not yet seen
 */

/** @returns {object} the state before the model has said anything */
export function initialState() {
  return {
    messages: [],
    pending: null,
    /** id of the last message before the current turn; null: the turn's messages start at 0 */
    baseId: null,
    /** @type {Draft | null} */
    draft: null,
    awaitingSnapshot: false,
    needsSync: false,
    clearedThroughId: null,
  };
}

function sameText(a, b) {
  return String(a ?? '').trim() === String(b ?? '').trim();
}

function indexOfId(messages, id) {
  if (id === null) return -1;
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    if (messages[i].id === id) return i;
  }
  return -2; // not found: the list was replaced
}

/**
 * The last message that existed before `pending` started. When the pending user message
 * is already the last one (its change arrived first), the base is the message before it.
 */
function baseFor(messages, pending) {
  let index = messages.length - 1;
  const last = messages[index];
  if (last && last.role === 'user' && sameText(last.content, pending.user_text)) index -= 1;
  return index >= 0 ? messages[index].id : null;
}

/** Messages that belong to the turn in flight (or just finished): those after the base. */
export function turnMessages(state) {
  const at = indexOfId(state.messages, state.baseId);
  if (at === -2) return [];
  return state.messages.slice(at + 1);
}

function hasFinishedReply(state) {
  return turnMessages(state).some((m) => m.role === 'assistant');
}

function newDraft(turnId) {
  return { turn_id: turnId, seq: 0, text: '', deltas: 0, early: {}, settling: false };
}

/** Applies buffered deltas that now follow the applied seq, drops those already covered. */
function drain(draft) {
  let { seq, text, deltas } = draft;
  const early = { ...draft.early };
  for (const key of Object.keys(early)) {
    if (Number(key) <= seq) delete early[key];
  }
  while (early[seq + 1] !== undefined) {
    text += early[seq + 1];
    delete early[seq + 1];
    seq += 1;
    deltas += 1;
  }
  return { ...draft, seq, text, deltas, early };
}

function applyPending(state, pending) {
  if (!pending) {
    const draft = state.draft;
    if (!draft || draft.text === '' || hasFinishedReply(state)) {
      return { ...state, pending: null, draft: null, awaitingSnapshot: false };
    }
    return { ...state, pending: null, draft: { ...draft, settling: true }, awaitingSnapshot: false };
  }
  const sameTurn = state.pending && state.pending.turn_id === pending.turn_id;
  if (sameTurn) return { ...state, pending };
  const draft =
    state.draft && state.draft.turn_id === pending.turn_id && !state.draft.settling
      ? state.draft
      : newDraft(pending.turn_id);
  return { ...state, pending, baseId: baseFor(state.messages, pending), draft };
}

function applyMessages(state, messages) {
  const next = { ...state, messages };
  if (indexOfId(messages, state.baseId) === -2) {
    // The list was replaced (new consultation, history reload): start the turn afresh.
    next.baseId = state.pending ? baseFor(messages, state.pending) : null;
    if (!state.pending) next.draft = null;
  }
  if (next.draft && next.draft.settling && hasFinishedReply(next)) next.draft = null;
  return next;
}

function draftFor(state, turnId) {
  if (state.draft && state.draft.turn_id === turnId) return state.draft;
  if (state.pending && state.pending.turn_id === turnId) return newDraft(turnId);
  return null;
}

function applyDelta(state, { turn_id: turnId, seq, text }) {
  const draft = draftFor(state, turnId);
  if (!draft || !Number.isInteger(seq) || typeof text !== 'string') return state;
  if (seq <= draft.seq || draft.early[seq] !== undefined) {
    return draft === state.draft ? state : { ...state, draft };
  }
  if (seq === draft.seq + 1) {
    const applied = drain({ ...draft, seq, text: draft.text + text, deltas: draft.deltas + 1 });
    return { ...state, draft: applied };
  }
  // A gap: keep the delta for later, and ask for a snapshot unless one is on its way.
  if (Object.keys(draft.early).length >= MAX_BUFFERED_DELTAS) {
    return { ...state, draft, needsSync: !state.awaitingSnapshot };
  }
  const early = { ...draft.early, [seq]: text };
  return { ...state, draft: { ...draft, early }, needsSync: !state.awaitingSnapshot };
}

function applySnapshot(state, { turn_id: turnId, seq, text }) {
  const settled = { ...state, awaitingSnapshot: false, needsSync: false };
  if (!turnId) return settled; // Python is idle: nothing is streaming.
  const draft = draftFor(state, turnId);
  if (!draft || !Number.isInteger(seq) || typeof text !== 'string') return settled;
  if (seq < draft.seq) return { ...settled, draft }; // we are already past it
  const deltas = Math.max(draft.deltas, seq);
  return { ...settled, draft: drain({ ...draft, seq, text, deltas }) };
}

/**
 * The reducer. Actions:
 * `{type: "messages", messages, initial?}` (`initial`: the view's first list, older than
 * the turn in flight), `{type: "pending", pending}`,
 * `{type: "delta", turn_id, seq, text}`, `{type: "snapshot", turn_id, seq, text}`,
 * `{type: "sync_requested"}`, `{type: "clear_view"}`, `{type: "show_all"}`, `{type: "link_lost"}`.
 */
export function reduce(state, action) {
  switch (action.type) {
    case 'messages': {
      const messages = Array.isArray(action.messages) ? action.messages : [];
      const next = applyMessages(state, messages);
      // The first list a view gets (its blocks resolved) was there before the turn in flight.
      if (action.initial && state.pending) next.baseId = baseFor(messages, state.pending);
      return next;
    }
    case 'pending':
      return applyPending(state, action.pending || null);
    case 'delta':
      return applyDelta(state, action);
    case 'snapshot':
      return applySnapshot(state, action);
    case 'link_lost':
      // The kernel is gone: nothing more will arrive for the turn in flight.
      return { ...applyPending(state, null), awaitingSnapshot: false, needsSync: false };
    case 'sync_requested':
      return { ...state, awaitingSnapshot: true, needsSync: false };
    case 'clear_view': {
      const last = state.messages[state.messages.length - 1];
      return last ? { ...state, clearedThroughId: last.id } : state;
    }
    case 'show_all':
      return { ...state, clearedThroughId: null };
    default:
      return state;
  }
}

/** Builds the state a view starts from: the traits it sees when it renders. */
export function fromTraits(messages, pending) {
  let state = reduce(initialState(), { type: 'messages', messages });
  state = reduce(state, { type: 'pending', pending });
  return state;
}

/**
 * What to draw, in order: finished messages after the clear-view cut-off, the pending
 * user message until it lands, and the draft (typing until its first text) until the
 * finished reply replaces it. Also says how many messages "clear view" hides.
 */
export function visibleItems(state) {
  const { messages, pending, draft } = state;
  let start = 0;
  if (state.clearedThroughId !== null) {
    const at = indexOfId(messages, state.clearedThroughId);
    start = at >= 0 ? at + 1 : 0;
  }
  const items = messages.slice(start).map((message, i) => ({
    kind: 'message',
    key: `m:${message.id ?? `#${start + i}`}`,
    message,
  }));
  const turn = pending || draft ? turnMessages(state) : [];
  if (pending && !turn.some((m) => m.role === 'user')) {
    items.push({
      kind: 'pending_user',
      key: `u:${pending.turn_id}`,
      text: pending.user_text,
      created_at: pending.started_at,
    });
  }
  const draftLive = draft && ((pending && pending.turn_id === draft.turn_id) || draft.settling);
  if (draftLive && !turn.some((m) => m.role === 'assistant')) {
    items.push({
      kind: 'draft',
      key: `d:${draft.turn_id}`,
      turn_id: draft.turn_id,
      text: draft.text,
      deltas: draft.deltas,
      typing: draft.text === '' && !draft.settling,
      streaming: !draft.settling,
    });
  }
  return { items, hidden: start };
}
