// Labels, times and the metrics line the panel shows.
import { describe, expect, it } from 'vitest';
import { activeFaults, faultsOff, FAULT_FIELDS } from '../src/explore.js';
import { badgeAnnouncement, formatTime, goalLabel, humanize, metricsParts, statusLabel, tierLabel } from '../src/format.js';

describe('format', () => {
  it('test_format_humanize_persona_names', () => {
    expect(humanize('wellness_specialist')).toBe('Wellness specialist');
    expect(humanize('')).toBe('');
  });

  it('test_format_labels_for_every_status_and_tier', () => {
    for (const s of ['connecting', 'connected', 'streaming', 'reconnecting', 'degraded', 'offline', 'error']) {
      expect(statusLabel(s)).toMatch(/^[A-Z][a-z]+$/);
    }
    expect([tierLabel('live'), tierLabel('rest'), tierLabel('legacy')]).toEqual(['Live', 'REST', 'Legacy']);
    expect(statusLabel('')).toBe('Unknown');
  });

  it('test_format_goal_label_with_and_without_target', () => {
    expect(goalLabel({ id: 'g1', title: 'Run 5k', target: '5 km' })).toBe('Run 5k (target: 5 km)');
    expect(goalLabel({ id: 'g2', title: 'Sleep' })).toBe('Sleep');
  });

  it('test_format_metrics_line', () => {
    expect(metricsParts({ ttft_s: 0.42, duration_s: 3.1, chunks: 128, tier: 'live', reconnects: 1 }))
      .toEqual(['first token 420 ms', 'total 3.10 s', '128 chunks', 'Live', '1 reconnect']);
    expect(metricsParts({ ttft_s: null, duration_s: 75, chunks: 1, tier: 'legacy', reconnects: 0 }))
      .toEqual(['total 1 min 15 s', '1 chunk', 'Legacy']);
    expect(metricsParts(undefined)).toEqual([]);
  });

  it('test_format_time_rejects_non_dates', () => {
    expect(formatTime('not a date')).toBe(null);
    expect(formatTime('2026-01-01T10:00:00Z', 'en-GB').iso).toBe('2026-01-01T10:00:00.000Z');
  });

  it('test_format_badge_announcement_carries_the_reason', () => {
    expect(badgeAnnouncement('tier', 'REST', 'live socket refused (403)')).toBe('Tier: REST. live socket refused (403)');
    expect(badgeAnnouncement('status', 'Connected', '')).toBe('Connection: Connected.');
  });

  it('test_format_faults_off_and_active', () => {
    const off = faultsOff();
    expect(Object.keys(off)).toEqual(FAULT_FIELDS.map((f) => f.key));
    expect(activeFaults(off)).toEqual([]);
    expect(activeFaults({ ...off, legacy_down: true, ws_close_after_chunks: 5 }))
      .toEqual([['ws_close_after_chunks', 5], ['legacy_down', true]]);
  });
});
