/**
 * The "New goal" form beside the goal picker: title, type, target, unit and dates, checked
 * here as the goals API checks them (PROTOCOL B9.2) and again in Python, errors shown next
 * to their fields. On submit it sends `{type: "create_goal", request_id, goal}`; Python
 * answers `{type: "goal_form", request_id, ok, goal_id?, title?, problems?, message?}`,
 * matched by `request_id`, and on success has already selected the new goal. Whether the
 * form is open is front-end state only.
 */

import './goals.css';
import { button, h } from './dom.js';

export const GOAL_TYPES = [['activity', 'Activity'], ['weight', 'Weight'], ['nutrition', 'Nutrition'], ['custom', 'Custom']];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** How long to wait for Python's answer before saying so (ms). */
const ANSWER_TIMEOUT_MS = 30000;
let formCount = 0;

const isDate = (text) => DATE.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`))
  && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text);

/** Today as YYYY-MM-DD in the user's time zone. */
export function today(now = new Date()) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** The form's values checked: `{goal, problems}`, problems keyed by field. */
export function checkGoal(values) {
  const problems = {};
  const title = String(values.title ?? '').trim();
  if (!title) problems.title = 'Say what the goal is.';
  else if (title.length > 200) problems.title = `At most 200 characters (this has ${title.length}).`;
  const type = values.goal_type;
  if (!GOAL_TYPES.some(([v]) => v === type)) problems.goal_type = 'Choose a type.';
  const raw = String(values.target_value ?? '').trim();
  const target = Number(raw);
  if (!raw) problems.target_value = 'A target is required.';
  else if (!Number.isFinite(target)) problems.target_value = 'The target must be a number.';
  else if (target < 0) problems.target_value = 'The target must be 0 or more.';
  const unit = String(values.target_unit ?? '').trim();
  if (!unit) problems.target_unit = 'A unit is required, e.g. steps, kg or minutes.';
  else if (unit.length > 50) problems.target_unit = 'At most 50 characters.';
  const start = String(values.start_date ?? '');
  if (!isDate(start)) problems.start_date = 'A start date is required.';
  const end = String(values.target_date ?? '');
  if (end && !isDate(end)) problems.target_date = 'Use a date such as 2026-03-01.';
  const goal = { title, goal_type: type, target_value: target, target_unit: unit, start_date: start };
  if (end) goal.target_date = end;
  return { goal, problems };
}

const FIELDS = [
  ['title', 'Title', { type: 'text', maxlength: 200, placeholder: 'Walk 10000 steps a day' }],
  ['goal_type', 'Type', null],
  ['target_value', 'Target', { type: 'number', min: 0, step: 'any', inputmode: 'decimal' }],
  ['target_unit', 'Unit', { type: 'text', maxlength: 50, placeholder: 'steps' }],
  ['start_date', 'Start', { type: 'date' }],
  ['target_date', 'Target date (optional)', { type: 'date' }],
];

/**
 * Adds the "New goal" button after the panel's goal picker and the form as a drawer of the
 * panel's body. Returns {open(), close(), destroy()}.
 */
export function mountGoalForm(model, panel) {
  formCount += 1;
  const prefix = `lume-goal-${formCount}`;
  const root = panel.element;
  const picker = root.querySelector('select[aria-label="Goal"]').closest('label');
  const inputs = {};
  const errors = {};
  const fields = FIELDS.map(([name, label, attrs]) => {
    const id = `${prefix}-${name}`;
    const errorId = `${id}-error`;
    const control = attrs
      ? h('input', { id, name, ...attrs, 'aria-describedby': errorId })
      : h('select', { id, name, 'aria-describedby': errorId },
        ...GOAL_TYPES.map(([value, text]) => h('option', { value, text })));
    inputs[name] = control;
    errors[name] = h('span', { class: 'lume-field__error', id: errorId });
    // The error sits outside the label, so the field's name stays its label alone.
    return h('div', { class: `lume-field lume-field--${name}` }, h('label', { for: id, text: label }), control, errors[name]);
  });
  const formError = h('p', { class: 'lume-form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'lume-btn lume-btn--primary' }, h('span', { class: 'lume-btn__label', text: 'Create goal' }));
  const form = h('form', { class: 'lume-drawer__body lume-goal-form', novalidate: true, 'aria-label': 'New goal' },
    h('p', { class: 'lume-help', text: 'The goal is created on the server and selected, so the next consultation is about it.' }),
    h('div', { class: 'lume-goal-grid' }, ...fields), formError,
    h('div', { class: 'lume-row-actions' }, submit, button('Cancel', null, () => close(), { className: 'lume-btn--ghost' })));
  const drawer = h('aside', { class: 'lume-goal-drawer', hidden: true, 'aria-labelledby': `${prefix}-head` },
    h('div', { class: 'lume-drawer__head' }, h('h3', { id: `${prefix}-head`, text: 'New goal' }),
      button('Close', 'close', () => close(), { iconOnly: true })),
    form);
  const opener = button('New goal', 'flag', () => (drawer.hidden ? open() : close()), { iconOnly: true, className: 'lume-new-goal' });
  opener.setAttribute('aria-expanded', 'false');
  picker.after(opener);
  root.querySelector('.lume-body').append(drawer);

  let waiting = null;
  let timer = 0;

  function show(problems, message) {
    for (const [name, el] of Object.entries(errors)) {
      const text = problems[name] || '';
      el.textContent = text;
      if (text) inputs[name].setAttribute('aria-invalid', 'true');
      else inputs[name].removeAttribute('aria-invalid');
    }
    const other = Object.entries(problems).filter(([name]) => !(name in inputs)).map(([, text]) => text);
    const text = [message, ...other].filter(Boolean).join(' ');
    formError.textContent = text;
    formError.hidden = !text;
  }

  function setWaiting(id) {
    waiting = id;
    clearTimeout(timer);
    submit.disabled = Boolean(id);
    submit.firstChild.textContent = id ? 'Creating\u2026' : 'Create goal';
    if (id) {
      timer = setTimeout(() => {
        setWaiting(null);
        show({}, 'No answer from Python yet. Is the kernel running? Try again.');
      }, ANSWER_TIMEOUT_MS);
    }
  }

  function reset() {
    form.reset();
    inputs.goal_type.value = 'activity';
    inputs.start_date.value = today();
    show({}, '');
  }

  function open() {
    if (drawer.hidden) reset();
    drawer.hidden = false;
    opener.setAttribute('aria-expanded', 'true');
    opener.classList.add('lume-btn--active');
    inputs.title.focus();
  }

  function close() {
    drawer.hidden = true;
    opener.setAttribute('aria-expanded', 'false');
    opener.classList.remove('lume-btn--active');
    if (root.contains(document.activeElement) || document.activeElement === document.body) opener.focus();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (waiting) return;
    const values = Object.fromEntries(Object.entries(inputs).map(([name, el]) => [name, el.value]));
    const { goal, problems } = checkGoal(values);
    show(problems, '');
    const first = FIELDS.find(([name]) => problems[name]);
    if (first) {
      inputs[first[0]].focus();
      return;
    }
    formCount += 1;
    setWaiting(`${prefix}-${formCount}-${Date.now()}`);
    model.send({ type: 'create_goal', request_id: waiting, goal });
  });
  drawer.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    event.stopPropagation();
    close();
  });
  for (const [name, el] of Object.entries(inputs)) {
    el.addEventListener('input', () => {
      if (!errors[name].textContent) return;
      errors[name].textContent = '';
      el.removeAttribute('aria-invalid');
    });
  }

  const onCustom = (message) => {
    if (!message || message.type !== 'goal_form' || !waiting || message.request_id !== waiting) return;
    setWaiting(null);
    if (message.ok) {
      close();
      panel.announce(`Goal ${message.title || ''} created and selected.`);
    } else {
      show(message.problems || {}, message.message || '');
      const first = FIELDS.find(([name]) => (message.problems || {})[name]);
      if (first) inputs[first[0]].focus();
    }
  };
  model.on('msg:custom', onCustom);
  // Choosing a goal switches the consultation, which stops a reply: not while one streams.
  const onPending = () => { opener.disabled = Boolean(model.get('pending')); };
  model.on('change:pending', onPending);
  onPending();

  function destroy() {
    clearTimeout(timer);
    model.off('msg:custom', onCustom);
    model.off('change:pending', onPending);
    opener.remove();
    drawer.remove();
  }

  return { open, close, destroy, element: drawer };
}
