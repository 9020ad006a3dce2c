/**
 * The "explore" drawer: pin a tier, simulate a live drop, and on the reference server switch
 * its faults (the admin fault keys of docs/architecture.md) to watch the panel fall back.
 *
 * Whether the drawer is open is front-end state only. Pinning writes the `pinned_tier`
 * trait; the drop and the faults are custom messages to Python.
 */

import { button, h } from './dom.js';
import { TIER_HELP, tierLabel } from './format.js';

/** The fault keys, their form controls and their "off" values (the server's defaults). */
export const FAULT_FIELDS = [
  { key: 'refuse_ws_upgrade', label: 'Refuse WebSocket upgrades', kind: 'choice', off: null,
    choices: [[null, 'No'], [403, 'With 403'], [503, 'With 503']] },
  { key: 'ws_close_after_chunks', label: 'Close the socket after N chunks', kind: 'count', off: null },
  { key: 'ws_close_mode', label: 'Close mode', kind: 'choice', off: 'clean',
    choices: [['clean', 'Clean (1000)'], ['abrupt', 'Abrupt (TCP reset)']] },
  { key: 'ws_stall_after_chunks', label: 'Stall after N chunks', kind: 'count', off: null },
  { key: 'ws_omit_stream_complete', label: 'Never send stream_complete', kind: 'flag', off: false },
  { key: 'ws_pack_events', label: 'Events per frame', kind: 'int', min: 1, off: 1 },
  { key: 'ws_malformed_frames', label: 'Interleave malformed JSON', kind: 'flag', off: false },
  { key: 'ws_unknown_frames', label: 'Interleave unknown event types', kind: 'flag', off: false },
  { key: 'http_error_rate', label: 'REST error rate (0-1)', kind: 'rate', off: 0 },
  { key: 'http_error_status', label: 'REST error status', kind: 'choice', off: 500,
    choices: [[500, '500'], [502, '502'], [503, '503'], [504, '504']] },
  { key: 'rate_limit_rate', label: 'Rate-limit (429) rate (0-1)', kind: 'rate', off: 0 },
  { key: 'rate_limit_retry_after_s', label: 'Retry-After (s)', kind: 'int', min: 0, off: 1 },
  { key: 'latency_ms', label: 'Added latency (ms)', kind: 'int', min: 0, off: 0 },
  { key: 'legacy_down', label: 'Legacy channel down (503)', kind: 'flag', off: false },
];

export const FAULT_PRESETS = [
  { label: 'Drop live after 5 chunks', faults: { ws_close_after_chunks: 5, ws_close_mode: 'abrupt' } },
  { label: 'Refuse WebSocket (403)', faults: { refuse_ws_upgrade: 403 } },
  { label: 'Stall after 3 chunks', faults: { ws_stall_after_chunks: 3 } },
  { label: 'Flaky REST (30% 503)', faults: { http_error_rate: 0.3, http_error_status: 503 } },
  { label: 'Slow server (800 ms)', faults: { latency_ms: 800 } },
];

/** Every fault switched off. */
export function faultsOff() {
  return Object.fromEntries(FAULT_FIELDS.map((f) => [f.key, f.off]));
}

/** The faults that differ from "off", as [label, value] pairs for the summary. */
export function activeFaults(faults) {
  const out = [];
  for (const field of FAULT_FIELDS) {
    const value = faults ? faults[field.key] : undefined;
    if (value === undefined || value === field.off) continue;
    out.push([field.key, value]);
  }
  return out;
}

/** Whether every fault of `preset` is on in `faults`. */
export function presetOn(faults, preset) {
  return Object.entries(preset.faults).every(([key, value]) => (faults || {})[key] === value);
}

/** `faults` with `preset` switched on, or off (its keys back to "off") when it is on. */
export function togglePreset(faults, preset) {
  if (!presetOn(faults, preset)) return { ...faults, ...preset.faults };
  const off = faultsOff();
  const next = { ...faults };
  for (const key of Object.keys(preset.faults)) next[key] = off[key];
  return next;
}

let drawerCount = 0;

function control(field, id) {
  if (field.kind === 'flag') return h('input', { type: 'checkbox', id, 'data-fault': field.key });
  if (field.kind === 'choice') {
    return h('select', { id, 'data-fault': field.key },
      ...field.choices.map(([value, label]) => h('option', { value: JSON.stringify(value), text: label })));
  }
  const attrs = { type: 'number', id, 'data-fault': field.key, inputmode: 'decimal' };
  if (field.kind === 'rate') Object.assign(attrs, { min: 0, max: 1, step: 0.05 });
  else Object.assign(attrs, { min: field.min ?? 0, step: 1 });
  if (field.kind === 'count') attrs.placeholder = 'off';
  return h('input', attrs);
}

function writeControl(el, field, value) {
  const v = value === undefined ? field.off : value;
  if (field.kind === 'flag') el.checked = Boolean(v);
  else if (field.kind === 'choice') {
    const json = JSON.stringify(v);
    if (![...el.options].some((o) => o.value === json)) el.append(h('option', { value: json, text: String(v) }));
    el.value = json;
  } else el.value = v === null ? '' : String(v);
}

/** Reads the form into a full faults dict; throws Error naming a field with a bad value. */
function readControl(el, field) {
  if (field.kind === 'flag') return el.checked;
  if (field.kind === 'choice') return JSON.parse(el.value);
  const raw = el.value.trim();
  if (raw === '') {
    if (field.kind === 'count') return null;
    return field.off;
  }
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${field.label}: "${raw}" is not a number.`);
  if (field.kind === 'rate') {
    if (n < 0 || n > 1) throw new Error(`${field.label}: use a fraction between 0 and 1.`);
    return n;
  }
  if (!Number.isInteger(n) || n < (field.min ?? 0)) {
    throw new Error(`${field.label}: use a whole number of at least ${field.min ?? 0}.`);
  }
  return n;
}

/**
 * Builds the drawer. `actions`: {pinTier(tier), simulateDrop(), setFaults(faults), close()}.
 * Returns {el, update(traits), focus()}.
 */
export function createExplore(actions) {
  drawerCount += 1;
  const uid = `lume-x${drawerCount}`;
  const tierInputs = ['', 'live', 'rest', 'legacy'].map((tier) => {
    const input = h('input', { type: 'radio', name: `${uid}-tier`, value: tier,
      onchange: () => actions.pinTier(tier) });
    const label = h('label', { class: 'lume-radio', title: tier ? TIER_HELP[tier] : 'Fall back between tiers on its own' },
      input, h('span', { text: tier ? tierLabel(tier) : 'Automatic' }));
    return { input, label };
  });
  const session = h('dl', { class: 'lume-kv' });
  const dropButton = button('Simulate a live drop', 'bolt', () => actions.simulateDrop(), { className: 'lume-btn--ghost' });

  const controls = new Map();
  const grid = h('div', { class: 'lume-faults__grid' });
  for (const field of FAULT_FIELDS) {
    const id = `${uid}-${field.key}`;
    const el = control(field, id);
    controls.set(field.key, { el, field });
    grid.append(h('label', { class: `lume-field lume-field--${field.kind}`, for: id },
      h('span', { class: 'lume-field__label', text: field.label }), el));
  }
  const formError = h('p', { class: 'lume-form-error', role: 'alert', hidden: true });
  const summary = h('div', { class: 'lume-faults__active', 'aria-live': 'off' });
  let dirty = false;

  const readForm = () => {
    const faults = {};
    for (const [key, { el, field }] of controls) faults[key] = readControl(el, field);
    return faults;
  };
  const submit = (faults) => {
    formError.hidden = true;
    dirty = false;
    actions.setFaults(faults);
  };
  const form = h('form', {
    class: 'lume-faults__form',
    novalidate: true, // our own messages say what to fix, the same in every host
    onsubmit: (event) => {
      event.preventDefault();
      try {
        submit(readForm());
      } catch (error) {
        formError.textContent = error.message;
        formError.hidden = false;
      }
    },
    oninput: () => { dirty = true; },
  },
  grid, formError,
  h('div', { class: 'lume-row-actions' },
    h('button', { type: 'submit', class: 'lume-btn lume-btn--primary', text: 'Apply faults' }),
    button('Clear all', null, () => submit(faultsOff()), { className: 'lume-btn--ghost' })));
  // Presets combine: each one switches its own faults on (or, when on, off) and leaves the
  // others as they are, so "Refuse WebSocket" and "Flaky REST" can be on together.
  const presetButtons = FAULT_PRESETS.map((preset) => {
    const chip = button(preset.label, null, () => {
      const current = { ...faultsOff(), ...JSON.parse(lastFaults || '{}') };
      submit(togglePreset(current, preset));
    }, { className: 'lume-chip' });
    chip.setAttribute('aria-pressed', 'false');
    return chip;
  });
  const presets = h('div', { class: 'lume-presets', role: 'group', 'aria-label': 'Presets' }, ...presetButtons);
  const faultsSection = h('section', { class: 'lume-section lume-faults' },
    h('h4', { text: 'Server faults' }),
    h('p', { class: 'lume-help', text: 'The reference server misbehaves on demand; send a message and watch the badges.' }),
    summary, presets, form);
  const remoteNote = h('section', { class: 'lume-section' },
    h('h4', { text: 'Server faults' }),
    h('p', { class: 'lume-help', text: 'Faults can be switched on the embedded reference server only; this panel talks to a remote server.' }));

  const closeButton = button('Close explore drawer', 'close', () => actions.close(), { iconOnly: true });
  const el = h('aside', { class: 'lume-drawer lume-drawer--explore', 'aria-label': 'Explore tiers and faults', tabindex: '-1', hidden: true },
    h('header', { class: 'lume-drawer__head' }, h('h3', { text: 'Explore' }), closeButton),
    h('div', { class: 'lume-drawer__body' },
      h('section', { class: 'lume-section' },
        h('h4', { text: 'Tier' }),
        h('p', { class: 'lume-help', text: 'Pin the client to one tier, or let it fall back on its own.' }),
        h('div', { class: 'lume-radios', role: 'radiogroup', 'aria-label': 'Pinned tier' }, ...tierInputs.map((t) => t.label))),
      h('section', { class: 'lume-section' },
        h('h4', { text: 'Live socket' }),
        h('p', { class: 'lume-help', text: 'Close the WebSocket as if the network failed; the client reconnects or falls back.' }),
        dropButton),
      faultsSection, remoteNote,
      h('section', { class: 'lume-section' }, h('h4', { text: 'Session' }), session)));

  let lastFaults = null;
  function update(traits) {
    const pinned = traits.pinned_tier || '';
    for (const { input } of tierInputs) input.checked = input.value === pinned;
    const reference = traits.server_kind === 'reference';
    faultsSection.hidden = !reference;
    remoteNote.hidden = reference;
    dropButton.disabled = traits.tier !== 'live';
    dropButton.title = traits.tier === 'live' ? '' : 'Only the live tier has a socket to drop.';
    const faults = traits.faults || {};
    const json = JSON.stringify(faults);
    if (json !== lastFaults) {
      lastFaults = json;
      const active = activeFaults(faults);
      summary.replaceChildren(active.length
        ? h('ul', {}, ...active.map(([key, value]) => h('li', { class: 'lume-chip lume-chip--on', text: `${key} = ${JSON.stringify(value)}` })))
        : h('p', { class: 'lume-help', text: 'No faults active.' }));
      if (!dirty) for (const { el: input, field } of controls.values()) writeControl(input, field, faults[field.key]);
      FAULT_PRESETS.forEach((preset, i) => presetButtons[i].setAttribute('aria-pressed', String(presetOn(faults, preset))));
    }
    session.replaceChildren(
      h('dt', { text: 'Consultation' }), h('dd', { text: traits.consultation_id || 'none yet' }),
      h('dt', { text: 'Server' }), h('dd', { text: reference ? 'embedded reference server' : traits.server_kind || 'unknown' }));
  }

  return { el, update, focus: () => (tierInputs.find((t) => t.input.checked) || tierInputs[0]).input.focus() };
}
