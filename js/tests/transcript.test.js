// The transcript reducer: delta ordering, duplicates, gaps, snapshots, finishing without
// duplicates whatever order the trait changes arrive in, and the clear-view cut-off.
import { describe, expect, it } from 'vitest';
import {
  fromTraits, initialState, MAX_BUFFERED_DELTAS, reduce, turnMessages, visibleItems,
} from '../src/transcript.js';

const user = (id, content) => ({ id, role: 'user', content, created_at: '2026-01-01T10:00:00Z', status: 'complete' });
const assistant = (id, content, status = 'complete') => ({
  id, role: 'assistant', content, created_at: '2026-01-01T10:00:05Z', status,
  metrics: { ttft_s: 0.2, duration_s: 1.5, chunks: 3, tier: 'live', reconnects: 0 },
});
const pending = (turnId, text) => ({ turn_id: turnId, user_text: text, started_at: '2026-01-01T10:00:01Z' });
const delta = (seq, text, turnId = 't1') => ({ type: 'delta', turn_id: turnId, seq, text });

function run(state, ...actions) {
  return actions.reduce(reduce, state);
}

function kinds(state) {
  return visibleItems(state).items.map((item) => item.kind);
}

function draftText(state) {
  const draft = visibleItems(state).items.find((item) => item.kind === 'draft');
  return draft ? draft.text : null;
}

describe('deltas', () => {
  const start = fromTraits([], pending('t1', 'hello'));

  it('test_transcript_deltas_in_order_append', () => {
    const state = run(start, delta(1, 'Hel'), delta(2, 'lo'), delta(3, '!'));
    expect(draftText(state)).toBe('Hello!');
    expect(state.draft.seq).toBe(3);
  });

  it('test_transcript_duplicate_and_old_deltas_are_ignored', () => {
    const state = run(start, delta(1, 'a'), delta(2, 'b'), delta(2, 'b'), delta(1, 'a'), delta(3, 'c'));
    expect(draftText(state)).toBe('abc');
  });

  it('test_transcript_gap_buffers_until_filled_and_asks_for_a_snapshot', () => {
    let state = reduce(start, { type: 'snapshot', turn_id: 't1', seq: 0, text: '' });
    state = run(state, delta(1, 'a'), delta(3, 'c'), delta(4, 'd'));
    expect(draftText(state)).toBe('a');
    expect(state.needsSync).toBe(true);
    state = reduce(state, { type: 'sync_requested' });
    state = reduce(state, delta(2, 'b'));
    expect(draftText(state)).toBe('abcd');
    expect(Object.keys(state.draft.early)).toEqual([]);
  });

  it('test_transcript_gap_while_awaiting_snapshot_does_not_ask_again', () => {
    let state = reduce(start, { type: 'sync_requested' });
    state = run(state, delta(5, 'e'), delta(6, 'f'));
    expect(state.needsSync).toBe(false);
    expect(draftText(state)).toBe('');
  });

  it('test_transcript_gap_buffer_is_bounded', () => {
    let state = reduce(start, { type: 'sync_requested' });
    for (let seq = 2; seq < MAX_BUFFERED_DELTAS + 50; seq += 1) state = reduce(state, delta(seq, 'x'));
    expect(Object.keys(state.draft.early).length).toBe(MAX_BUFFERED_DELTAS);
  });

  it('test_transcript_deltas_of_another_turn_are_ignored', () => {
    const state = run(start, delta(1, 'stale', 'old-turn'), delta(1, 'fresh'));
    expect(draftText(state)).toBe('fresh');
  });

  it('test_transcript_deltas_with_bad_fields_are_ignored', () => {
    const state = run(start, { type: 'delta', turn_id: 't1', seq: '1', text: 'x' },
      { type: 'delta', turn_id: 't1', seq: 1, text: null }, delta(1, 'ok'));
    expect(draftText(state)).toBe('ok');
  });

  it('test_transcript_typing_until_the_first_text', () => {
    expect(visibleItems(start).items.at(-1)).toMatchObject({ kind: 'draft', typing: true, text: '' });
    const state = reduce(start, delta(1, 'x'));
    expect(visibleItems(state).items.at(-1)).toMatchObject({ kind: 'draft', typing: false, streaming: true });
  });
});

describe('snapshots', () => {
  const start = fromTraits([user('u0', 'earlier')], pending('t1', 'hello'));

  it('test_transcript_snapshot_replaces_draft_then_applies_only_newer_deltas', () => {
    let state = run(start, { type: 'sync_requested' }, delta(1, 'Hel'));
    state = reduce(state, { type: 'snapshot', turn_id: 't1', seq: 3, text: 'Hello wor' });
    expect(draftText(state)).toBe('Hello wor');
    state = run(state, delta(2, 'lo'), delta(3, ' wor'), delta(4, 'ld'));
    expect(draftText(state)).toBe('Hello world');
    expect(state.awaitingSnapshot).toBe(false);
  });

  it('test_transcript_deltas_before_the_snapshot_are_merged_after_it', () => {
    // A late view listens, asks for a snapshot; newer deltas overtake the answer.
    let state = run(start, { type: 'sync_requested' }, delta(6, 'F'), delta(7, 'G'));
    state = reduce(state, { type: 'snapshot', turn_id: 't1', seq: 6, text: 'ABCDEF' });
    expect(draftText(state)).toBe('ABCDEFG');
  });

  it('test_transcript_older_snapshot_does_not_undo_newer_text', () => {
    let state = run(start, delta(1, 'a'), delta(2, 'b'), delta(3, 'c'));
    state = reduce(state, { type: 'snapshot', turn_id: 't1', seq: 2, text: 'ab' });
    expect(draftText(state)).toBe('abc');
  });

  it('test_transcript_idle_snapshot_clears_the_wait', () => {
    let state = reduce(fromTraits([], null), { type: 'sync_requested' });
    state = reduce(state, { type: 'snapshot', turn_id: null, seq: 0, text: '' });
    expect(state.awaitingSnapshot).toBe(false);
    expect(state.draft).toBe(null);
  });

  it('test_transcript_snapshot_for_the_pending_turn_starts_the_draft', () => {
    const state = reduce(fromTraits([], pending('t9', 'q')), { type: 'snapshot', turn_id: 't9', seq: 4, text: 'half' });
    expect(draftText(state)).toBe('half');
    expect(state.draft.seq).toBe(4);
  });
});

describe('finishing a turn', () => {
  const history = [user('u0', 'hi'), assistant('a0', 'hello')];

  function streamed() {
    let state = fromTraits(history, null);
    state = run(state, { type: 'pending', pending: pending('t1', 'how are you') });
    return run(state, delta(1, 'Fine, '), delta(2, 'thanks.'));
  }

  it('test_transcript_pending_user_message_shown_until_stored', () => {
    let state = streamed();
    expect(kinds(state)).toEqual(['message', 'message', 'pending_user', 'draft']);
    state = reduce(state, { type: 'messages', messages: [...history, user('u1', 'how are you')] });
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'draft']);
  });

  it('test_transcript_finish_messages_first_then_pending_has_no_duplicate', () => {
    let state = streamed();
    const done = [...history, user('u1', 'how are you'), assistant('a1', 'Fine, thanks.')];
    state = reduce(state, { type: 'messages', messages: done });
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'message']);
    state = reduce(state, { type: 'pending', pending: null });
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'message']);
    expect(state.draft).toBe(null);
  });

  it('test_transcript_finish_pending_first_keeps_the_draft_until_the_message_lands', () => {
    let state = streamed();
    state = reduce(state, { type: 'pending', pending: null });
    expect(kinds(state)).toEqual(['message', 'message', 'draft']);
    expect(visibleItems(state).items.at(-1)).toMatchObject({ streaming: false, text: 'Fine, thanks.' });
    const done = [...history, user('u1', 'how are you'), assistant('a1', 'Fine, thanks.')];
    state = reduce(state, { type: 'messages', messages: done });
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'message']);
    expect(state.draft).toBe(null);
  });

  it('test_transcript_user_message_before_pending_is_part_of_the_turn', () => {
    // The same text as an earlier question, stored before the pending change arrives.
    let state = fromTraits([user('u0', 'again'), assistant('a0', 'ok')], null);
    state = reduce(state, { type: 'messages', messages: [...state.messages, user('u1', 'again')] });
    state = reduce(state, { type: 'pending', pending: pending('t2', 'again') });
    expect(turnMessages(state).map((m) => m.id)).toEqual(['u1']);
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'draft']);
  });

  it('test_transcript_repeated_question_before_storing_is_not_mistaken_for_finished', () => {
    const state = fromTraits([user('u0', 'again'), assistant('a0', 'ok')], pending('t2', 'again'));
    expect(kinds(state)).toEqual(['message', 'message', 'pending_user', 'draft']);
  });

  it('test_transcript_late_view_with_stored_user_message_shows_no_duplicate', () => {
    const state = fromTraits([user('u0', 'hi'), assistant('a0', 'yo'), user('u1', 'more')], pending('t3', 'more'));
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'draft']);
  });

  it('test_transcript_empty_draft_disappears_when_pending_clears', () => {
    let state = fromTraits(history, pending('t1', 'x'));
    state = reduce(state, { type: 'pending', pending: null });
    expect(kinds(state)).toEqual(['message', 'message']);
  });

  it('test_transcript_next_turn_starts_a_fresh_draft', () => {
    let state = streamed();
    state = run(state,
      { type: 'messages', messages: [...history, user('u1', 'how are you'), assistant('a1', 'Fine, thanks.')] },
      { type: 'pending', pending: null },
      { type: 'pending', pending: pending('t2', 'and you?') },
      delta(1, 'New', 't2'));
    expect(draftText(state)).toBe('New');
    expect(kinds(state)).toEqual(['message', 'message', 'message', 'message', 'pending_user', 'draft']);
  });

  it('test_transcript_replaced_messages_drop_a_settled_draft', () => {
    let state = streamed();
    state = run(state, { type: 'pending', pending: null }, { type: 'messages', messages: [user('x', 'other consultation')] });
    expect(kinds(state)).toEqual(['message']);
  });
});

describe('clear view', () => {
  const history = [user('u0', 'a'), assistant('a0', 'b'), user('u1', 'c'), assistant('a1', 'd')];

  it('test_transcript_clear_view_hides_earlier_messages_only', () => {
    let state = reduce(fromTraits(history, null), { type: 'clear_view' });
    expect(visibleItems(state)).toEqual({ items: [], hidden: 4 });
    state = reduce(state, { type: 'messages', messages: [...history, user('u2', 'e')] });
    expect(visibleItems(state).items.map((i) => i.key)).toEqual(['m:u2']);
    expect(visibleItems(state).hidden).toBe(4);
  });

  it('test_transcript_clear_view_keeps_the_streaming_draft', () => {
    let state = run(fromTraits(history, pending('t1', 'q')), delta(1, 'partial'));
    state = reduce(state, { type: 'clear_view' });
    expect(kinds(state)).toEqual(['pending_user', 'draft']);
  });

  it('test_transcript_show_all_restores_and_new_consultation_resets_cutoff', () => {
    let state = reduce(fromTraits(history, null), { type: 'clear_view' });
    expect(visibleItems(reduce(state, { type: 'show_all' })).items).toHaveLength(4);
    state = reduce(state, { type: 'messages', messages: [user('n0', 'fresh')] });
    expect(visibleItems(state)).toMatchObject({ hidden: 0, items: [{ key: 'm:n0' }] });
  });

  it('test_transcript_clear_view_on_empty_transcript_is_a_no_op', () => {
    const state = initialState();
    expect(reduce(state, { type: 'clear_view' })).toBe(state);
  });
});

describe('purity', () => {
  it('test_transcript_reducer_does_not_mutate_its_input', () => {
    const state = fromTraits([user('u0', 'a')], pending('t1', 'q'));
    const frozen = JSON.stringify(state);
    run(state, delta(2, 'x'), delta(1, 'y'), { type: 'clear_view' }, { type: 'pending', pending: null });
    expect(JSON.stringify(state)).toBe(frozen);
  });

  it('test_transcript_unknown_action_returns_same_state', () => {
    const state = initialState();
    expect(reduce(state, { type: 'nope' })).toBe(state);
  });

  it('test_transcript_first_list_of_a_view_is_older_than_the_turn_in_flight', () => {
    // A view reloaded mid-stream: pending first, its blocks resolve after the first deltas.
    let state = fromTraits([], pending('t1', 'more'));
    state = run(state, delta(1, 'streaming '));
    const history = [user('u0', 'hi'), assistant('a0', 'hello')];
    state = reduce(state, { type: 'messages', messages: history, initial: true });
    expect(kinds(state)).toEqual(['message', 'message', 'pending_user', 'draft']);
    expect(draftText(state)).toBe('streaming ');
    // Without `initial` the same list would be taken as the turn's own messages.
    const taken = reduce(run(fromTraits([], pending('t1', 'more')), delta(1, 'x')), { type: 'messages', messages: history });
    expect(kinds(taken)).toEqual(['message', 'message']);
  });
});
