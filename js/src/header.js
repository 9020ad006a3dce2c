/**
 * The panel's header and toolbar: title and subtitle, the status and tier badges, the
 * persona and goal pickers, and the buttons (new consultation, clear view, download, the
 * consultations and explore drawers).
 *
 * Its own state is what it last drew (to announce only changes). A goal picker that gains
 * options keeps its width: the select shrinks with the panel and long titles are cut with an
 * ellipsis in the closed picker, shown whole in the list and in the tooltip.
 */

import { button, h } from './dom.js';
import {
  badgeAnnouncement, goalLabel, humanize, statusLabel, statusWords, TIER_HELP, tierLabel,
} from './format.js';

/** The goal picker asks for the goals again at most this often (ms). */
const GOALS_REFRESH_MS = 5000;

function badge(kind) {
  return h('span', { class: `lume-badge lume-badge--${kind}`, tabindex: '0', role: 'img' },
    h('span', { class: 'lume-dot', 'aria-hidden': 'true' }), h('span', { class: 'lume-badge__label' }));
}

function setBadge(el, kind, value, label, reason, spoken = label) {
  el.className = `lume-badge lume-badge--${kind} lume-badge--${value || 'unknown'}`;
  el.dataset.value = value || '';
  el.lastChild.textContent = label;
  const help = kind === 'tier' && TIER_HELP[value] ? `${TIER_HELP[value]} ` : '';
  el.title = reason ? `${help}${reason}` : help.trim() || label;
  el.setAttribute('aria-label', badgeAnnouncement(kind, spoken, reason));
}

/** The tier badge once the kernel is gone: no tier is in use, so it claims none. */
export const NO_TIER = 'No delivery tier: the kernel is gone.';

function fillSelect(select, options, value) {
  const json = JSON.stringify(options);
  if (select.dataset.options !== json) {
    select.replaceChildren(...options.map(([v, label]) => h('option', { value: v, text: label, title: label })));
    select.dataset.options = json;
  }
  if (!options.some(([v]) => v === value) && value) {
    select.append(h('option', { value, text: humanize(value) }));
    select.dataset.options = '';
  }
  if (select.value !== value) select.value = value;
  select.title = select.selectedOptions[0]?.textContent || '';
}

/**
 * Builds the header. `actions`: setPersona(name), setGoal(id), refreshGoals(), newConsultation(),
 * clearView(), download(), saveScenario(), toggleDrawer(name). Returns {els: [header, toolbar], drawerButtons, render}.
 */
export function createHeader(actions) {
  const statusBadge = badge('status');
  const tierBadge = badge('tier');
  const subtitle = h('div', { class: 'lume-subtitle' });
  const header = h('header', { class: 'lume-header' },
    h('div', { class: 'lume-brand' },
      h('span', { class: 'lume-logo', 'aria-hidden': 'true' }),
      h('div', { class: 'lume-brand__text' }, h('div', { class: 'lume-title', text: 'Lume' }), subtitle)),
    h('div', { class: 'lume-badges' }, statusBadge, tierBadge));

  const persona = h('select', { class: 'lume-select', 'aria-label': 'Persona',
    onchange: () => actions.setPersona(persona.value) });
  // A goal created elsewhere (another panel, code, the app) shows up when the picker is used.
  let goalsAskedAt = -Infinity;
  const askGoals = () => {
    if (Date.now() - goalsAskedAt < GOALS_REFRESH_MS) return;
    goalsAskedAt = Date.now();
    actions.refreshGoals();
  };
  const goal = h('select', { class: 'lume-select lume-select--goal', 'aria-label': 'Goal',
    onchange: () => actions.setGoal(goal.value), onfocus: askGoals, onpointerdown: askGoals });
  const newButton = button('New consultation', 'plus', () => actions.newConsultation(), { iconOnly: true });
  const clearButton = button('Clear view (hide the messages shown; nothing is deleted)', 'hide', () => actions.clearView(), { iconOnly: true });
  const downloadButton = button('Download the conversation (Markdown)', 'download', () => actions.download(), { iconOnly: true });
  const scenarioButton = button('Save as scenario (a YAML file for lume-widget eval)', 'save', () => actions.saveScenario(), { iconOnly: true });
  const drawerButtons = {
    consultations: button('Consultations', 'history', () => actions.toggleDrawer('consultations'), { iconOnly: true }),
    explore: button('Explore tiers and faults', 'explore', () => actions.toggleDrawer('explore'), { iconOnly: true }),
  };
  for (const b of Object.values(drawerButtons)) b.setAttribute('aria-expanded', 'false');
  const toolbar = h('div', { class: 'lume-toolbar' },
    h('div', { class: 'lume-pickers' },
      h('label', { class: 'lume-picker' }, h('span', { text: 'Persona' }), persona),
      h('label', { class: 'lume-picker lume-picker--goal' }, h('span', { text: 'Goal' }), goal)),
    h('div', { class: 'lume-tools' },
      newButton, clearButton, downloadButton, scenarioButton, drawerButtons.consultations, drawerButtons.explore));

  let prev = {};

  /** Draws `t`; `announce(text)` is called for badge changes unless `quiet`. */
  function render(t, { announce, quiet, itemCount, title }) {
    const words = statusWords(t);
    if (words.status !== prev.statusLabel || t.status_reason !== prev.status_reason || t.status !== prev.status) {
      setBadge(statusBadge, 'status', t.status, words.status, t.status_reason);
      if (!quiet && words.status !== prev.statusLabel) announce(badgeAnnouncement('status', words.status, t.status_reason));
    }
    const gone = Boolean(t.kernel_gone);
    if (gone) {
      // The status badge says offline and why (announced); this one stops claiming a tier.
      if (!prev.kernel_gone || t.status_reason !== prev.status_reason) {
        setBadge(tierBadge, 'tier', 'none', '\u2014', `${NO_TIER} ${t.status_reason || ''}`.trim(), 'none');
      }
    } else if (prev.kernel_gone || t.tier !== prev.tier || t.tier_reason !== prev.tier_reason || t.pinned_tier !== prev.pinned_tier) {
      const label = tierLabel(t.tier) + (t.pinned_tier ? ' (pinned)' : '');
      setBadge(tierBadge, 'tier', t.tier, label, t.tier_reason);
      if (!quiet && t.tier !== prev.tier) announce(badgeAnnouncement('tier', tierLabel(t.tier), t.tier_reason));
    }
    const personas = (Array.isArray(t.personas) && t.personas.length ? t.personas : [t.persona]).filter(Boolean);
    fillSelect(persona, personas.map((p) => [p, humanize(p)]), t.persona || '');
    const goals = Array.isArray(t.goals) ? t.goals : [];
    fillSelect(goal, [['', 'No goal'], ...goals.map((g) => [String(g.id), goalLabel(g)])], t.goal_id || '');
    const busy = Boolean(t.pending);
    persona.disabled = busy || gone;
    goal.disabled = busy || gone;
    newButton.disabled = busy || gone;
    drawerButtons.consultations.disabled = gone;
    clearButton.disabled = itemCount === 0;
    downloadButton.disabled = !(Array.isArray(t.messages) && t.messages.length);
    scenarioButton.disabled = gone || !(t.messages || []).some((m) => m.role === 'user' && m.status !== 'unsent');
    const goalTitle = goals.find((g) => String(g.id) === t.goal_id);
    subtitle.textContent = title || [humanize(t.persona), goalTitle ? goalTitle.title : ''].filter(Boolean).join(' \u00b7 ');
    subtitle.title = subtitle.textContent;
    prev = { ...t, statusLabel: words.status };
  }

  return { els: [header, toolbar], drawerButtons, render };
}
