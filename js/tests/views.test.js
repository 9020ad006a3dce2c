// Pure parts of the views: what may be sent, the words shown, presets, the export, link loss.
import { describe, expect, it } from 'vitest';
import { charCount, hintFor, MAX_MESSAGE_CHARS, sendBlocker } from '../src/composer.js';
import { countsLine, rowDetails } from '../src/consultations.js';
import { FAULT_PRESETS, faultsOff, presetOn, togglePreset } from '../src/explore.js';
import { exportName, toMarkdown } from '../src/export.js';
import { statusWords } from '../src/format.js';
import { KERNEL_RESTARTED, withLinkLost } from '../src/index.js';
import { fromTraits, reduce, visibleItems } from '../src/transcript.js';

describe('composer rules', () => {
  it('test_composer_counts_code_points_not_utf16_units', () => {
    expect(charCount('\u{1F600}'.repeat(3000))).toBe(3000);
    expect(sendBlocker('\u{1F600}'.repeat(MAX_MESSAGE_CHARS), {})).toBe('');
    expect(sendBlocker('\u{1F600}'.repeat(MAX_MESSAGE_CHARS + 1), {})).toBe('too_long');
  });

  it('test_composer_does_not_send_while_a_reply_is_in_flight_or_blocked', () => {
    expect(sendBlocker('  ', {})).toBe('empty');
    expect(sendBlocker('hi', { pending: { turn_id: 't' } })).toBe('busy');
    expect(sendBlocker('hi', { input_enabled: false })).toBe('blocked');
    expect(hintFor({ pending: { turn_id: 't' } }, '')[1]).toBe('busy');
    expect(hintFor({ input_enabled: false, input_disabled_reason: 'Offline' }, '')).toEqual(['Offline', 'blocked']);
  });
});

describe('status words', () => {
  it('test_status_words_stream_only_on_live_and_say_sent_once_stored', () => {
    expect(statusWords({ status: 'streaming', tier: 'live' }).status).toBe('Streaming');
    expect(statusWords({ status: 'streaming', tier: 'rest' })).toMatchObject({ status: 'Waiting for reply', draft: 'Waiting for reply' });
    expect(statusWords({ status: 'connected', tier: 'legacy' }).status).toBe('Connected');
    expect(statusWords({ status: 'reconnecting', tier: 'live' }).draft).toBe('Reconnecting');
    expect(statusWords({ pending: { turn_id: 't' } }).user).toBe('Sending');
    expect(statusWords({ pending: { turn_id: 't', stored: true } }).user).toBe('Sent');
  });
});

describe('consultations drawer', () => {
  it('test_consultations_counts_and_details', () => {
    const rows = [{ status: 'active', message_count: 1, started_at: '2026-03-02T09:00:00Z', last_message_at: '2026-03-02T09:00:00Z' },
      { status: 'completed', message_count: 12 }];
    expect(countsLine(rows)).toBe('1 active \u00b7 1 completed');
    expect(rowDetails(rows[0])).toMatch(/^1 message \u00b7 started /);
    expect(rowDetails(rows[0])).not.toContain('last');
    expect(rowDetails(rows[1])).toBe('12 messages');
  });
});

describe('explore presets', () => {
  it('test_explore_presets_combine_and_switch_off_alone', () => {
    const [, refuse, , flaky] = FAULT_PRESETS;
    let faults = togglePreset(faultsOff(), refuse);
    faults = togglePreset(faults, flaky);
    expect(presetOn(faults, refuse) && presetOn(faults, flaky)).toBe(true);
    faults = togglePreset(faults, refuse);
    expect(presetOn(faults, refuse)).toBe(false);
    expect(presetOn(faults, flaky)).toBe(true);
    expect(faults.refuse_ws_upgrade).toBe(null);
  });
});

describe('export', () => {
  it('test_export_markdown_names_persona_goal_and_marks_states', () => {
    const md = toMarkdown({
      persona: 'nutritionist', goal_id: 'g1', goals: [{ id: 'g1', title: 'Eat well', target: '5 a day' }],
      consultation_id: 'c1',
      messages: [
        { role: 'user', content: 'Hi', created_at: '2026-03-02T09:00:00Z', status: 'complete' },
        { role: 'assistant', content: 'Hel', created_at: '2026-03-02T09:00:01Z', status: 'stopped' },
      ],
    });
    expect(md).toBe('# Consultation with Nutritionist\n\nGoal: Eat well (target: 5 a day)\n\nConsultation c1\n\n'
      + '## You \u00b7 2026-03-02T09:00:00Z\n\nHi\n\n## Nutritionist \u00b7 2026-03-02T09:00:01Z (stopped)\n\nHel\n');
    expect(exportName({ persona: 'nutritionist' }, new Date('2026-03-02T10:00:00Z'))).toBe('lume-nutritionist-2026-03-02.md');
  });
});

describe('link lost', () => {
  it('test_link_lost_shows_offline_and_ends_the_turn_in_flight', () => {
    const shown = withLinkLost({ status: 'streaming', pending: { turn_id: 't' }, input_enabled: true }, KERNEL_RESTARTED);
    expect(shown).toMatchObject({ status: 'offline', status_reason: KERNEL_RESTARTED, pending: null, input_enabled: false, kernel_gone: true });
    let state = fromTraits([], { turn_id: 't', user_text: 'q' });
    state = reduce(state, { type: 'delta', turn_id: 't', seq: 1, text: 'half' });
    state = reduce(state, { type: 'link_lost' });
    const draft = visibleItems(state).items.find((i) => i.kind === 'draft');
    expect(draft).toMatchObject({ text: 'half', streaming: false });
    expect(state.pending).toBe(null);
  });
});
