/**
 * Words and numbers the panel shows: labels for statuses, tiers and personas, message
 * times, and the per-reply metrics line. Pure functions, tested in node.
 */

export const STATUS_LABELS = {
  connecting: 'Connecting',
  connected: 'Connected',
  streaming: 'Streaming',
  reconnecting: 'Reconnecting',
  degraded: 'Degraded',
  offline: 'Offline',
  error: 'Error',
};

export const TIER_LABELS = { live: 'Live', rest: 'REST', legacy: 'Legacy' };

export const TIER_HELP = {
  live: 'Replies stream over a WebSocket.',
  rest: 'Messages go over REST and replies are polled.',
  legacy: 'The legacy chat channel: whole replies, no streaming.',
};

/** "wellness_specialist" -> "Wellness specialist". */
export function humanize(name) {
  const words = String(name || '').replace(/[_-]+/g, ' ').trim();
  return words ? words[0].toUpperCase() + words.slice(1) : '';
}

/**
 * The words a turn shows, which depend on the tier: only the live tier streams, REST and
 * legacy replies arrive whole. `status` is the badge, `draft` the tag on the reply being
 * written, `user` the tag on the question while its turn is in flight.
 */
export function statusWords(traits) {
  const streams = traits.tier === 'live' || !traits.tier;
  let status = statusLabel(traits.status);
  if (traits.status === 'streaming' && !streams) status = 'Waiting for reply';
  const pending = traits.pending || null;
  let draft = streams ? 'Streaming' : 'Waiting for reply';
  if (traits.status === 'reconnecting') draft = 'Reconnecting'; // a retry, not a stream
  return {
    status,
    draft,
    user: pending && pending.stored ? 'Sent' : 'Sending',
  };
}

export function statusLabel(status) {
  return STATUS_LABELS[status] || humanize(status) || 'Unknown';
}

export function tierLabel(tier) {
  return TIER_LABELS[tier] || humanize(tier) || 'Unknown';
}

/**
 * A goal as the picker shows it: its title and its progress ("Walk 10000 steps a day · 40%"),
 * or its target when the progress is not known.
 */
export function goalLabel(goal) {
  const title = String(goal.title || goal.id || 'Untitled goal');
  if (Number.isFinite(goal.progress)) return `${title} \u00b7 ${Math.round(goal.progress)}%`;
  const target = goal.target === undefined || goal.target === null ? '' : String(goal.target).trim();
  return target ? `${title} (target: ${target})` : title;
}

function toDate(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

const formatters = new Map();

/** Intl formatters are costly to build: one per locale and style, reused. */
function formatter(locale, style) {
  const key = `${locale || ''}|${style}`;
  let f = formatters.get(key);
  if (!f) {
    const options = style === 'short'
      ? { hour: '2-digit', minute: '2-digit' }
      : { dateStyle: 'medium', timeStyle: 'medium' };
    f = new Intl.DateTimeFormat(locale, options);
    formatters.set(key, f);
  }
  return f;
}

/** `{short, full, iso}` for a message time; null when the value is not a date. */
export function formatTime(iso, locale = undefined) {
  const date = toDate(iso);
  if (!date) return null;
  return {
    short: formatter(locale, 'short').format(date),
    full: formatter(locale, 'full').format(date),
    iso: date.toISOString(),
  };
}

function seconds(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(2)} s`;
  const minutes = Math.floor(value / 60);
  return `${minutes} min ${Math.round(value - minutes * 60)} s`;
}

/**
 * The metrics line of a finished reply as parts, e.g.
 * ["first token 420 ms", "3.10 s", "128 chunks", "live", "1 reconnect"].
 */
export function metricsParts(metrics) {
  if (!metrics || typeof metrics !== 'object') return [];
  const parts = [];
  const ttft = seconds(metrics.ttft_s);
  if (ttft) parts.push(`first token ${ttft}`);
  const duration = seconds(metrics.duration_s);
  if (duration) parts.push(`total ${duration}`);
  if (Number.isInteger(metrics.chunks)) {
    parts.push(`${metrics.chunks} chunk${metrics.chunks === 1 ? '' : 's'}`);
  }
  if (metrics.tier) parts.push(tierLabel(metrics.tier));
  if (Number.isInteger(metrics.reconnects) && metrics.reconnects > 0) {
    parts.push(`${metrics.reconnects} reconnect${metrics.reconnects === 1 ? '' : 's'}`);
  }
  return parts;
}

/** One sentence for the aria-live region when a badge changes. */
export function badgeAnnouncement(kind, label, reason) {
  const head = kind === 'tier' ? `Tier: ${label}.` : `Connection: ${label}.`;
  return reason ? `${head} ${reason}` : head;
}
