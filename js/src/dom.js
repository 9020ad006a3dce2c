/**
 * Small DOM helpers shared by the view modules: element creation, icons, the clipboard.
 *
 * Text always goes in as text nodes; only sanitized markdown (markdown.js) and the fixed
 * icon markup below are ever assigned as HTML.
 */

/**
 * `h("button", {class: "x", onclick: fn, "aria-label": "Stop"}, "Stop")`: an element with
 * attributes, listeners (keys starting with "on"), and children (strings become text).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'text') {
      el.textContent = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

const PATHS = {
  send: '<path d="M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z"/>',
  stop: '<rect x="6" y="6" width="12" height="12" rx="2"/>',
  copy:
    '<path d="M16 1H4a2 2 0 0 0-2 2v14h2V3h12V1zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11v14z"/>',
  check: '<path d="M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z"/>',
  retry:
    '<path d="M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4l-2.35 2.35z"/>',
  plus: '<path d="M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z"/>',
  explore:
    '<path d="M3 17v2h6v-2H3zM3 5v2h10V5H3zm10 16v-2h8v-2h-8v-2h-2v6h2zM7 9v2H3v2h4v2h2V9H7zm14 4v-2H11v2h10zm-6-4h2V7h4V5h-4V3h-2v6z"/>',
  close:
    '<path d="M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z"/>',
  down: '<path d="M20 12l-1.41-1.41L13 16.17V4h-2v12.17l-5.58-5.59L4 12l8 8 8-8z"/>',
  edit:
    '<path d="M3 17.25V21h3.75L17.81 9.94l-3.75-3.75L3 17.25zM20.71 7.04a1 1 0 0 0 0-1.41l-2.34-2.34a1 1 0 0 0-1.41 0l-1.83 1.83 3.75 3.75 1.83-1.83z"/>',
  alert: '<path d="M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z"/>',
  bolt: '<path d="M7 2v11h3v9l7-12h-4l4-8z"/>',
  hide:
    '<path d="M2 4.3 3.3 3 21 20.7 19.7 22l-3.3-3.3A11 11 0 0 1 1 12a11.8 11.8 0 0 1 4-5.3zM12 4.5c5 0 9.3 3.1 11 7.5a11.8 11.8 0 0 1-3.3 4.6L17 14a5 5 0 0 0-6.9-6.9L8 5a11 11 0 0 1 4-.5zM8 10.6a4 4 0 0 0 5.4 5.4z"/>',
  download: '<path d="M19 9h-4V3H9v6H5l7 7 7-7zM5 18v2h14v-2H5z"/>',
  history:
    '<path d="M13 3a9 9 0 0 0-9 9H1l3.89 3.89.07.14L9 12H6a7 7 0 1 1 2.05 4.95l-1.42 1.42A9 9 0 1 0 13 3zm-1 5v5l4.28 2.54.72-1.21-3.5-2.08V8H12z"/>',
  flag: '<path d="M14.4 6 14 4H5v17h2v-7h5.6l.4 2h7V6z"/>',
  thumb: '<path d="M2 21h4V9H2zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6V3l-1.4-1.4L7 8v13h11c.8 0 1.5-.5 1.8-1.2l3-7.1.2-.7z"/>',
  star: '<path d="M12 17.3 18.2 21l-1.6-7L22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2 7.5 14l-1.7 7z"/>',
  save: '<path d="M17 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V7zm-5 16a3 3 0 1 1 0-6 3 3 0 0 1 0 6zm3-10H5V5h10z"/>',
};

const ICONS = {};

/**
 * A decorative 24x24 icon from the fixed set above (aria-hidden; label the button). Each
 * is parsed once and cloned after that: a long history has a copy button per message and
 * per code block.
 */
export function icon(name) {
  let span = ICONS[name];
  if (!span) {
    span = ICONS[name] = document.createElement('span');
    span.className = `lume-icon lume-icon--${name}`;
    span.setAttribute('aria-hidden', 'true');
    span.innerHTML = `<svg viewBox="0 0 24 24" width="16" height="16" focusable="false">${PATHS[name]}</svg>`;
  }
  return span.cloneNode(true);
}

/** A button with an icon and a label (visible unless `iconOnly`, then it is the tooltip). */
export function button(label, iconName, onClick, { className = '', iconOnly = false } = {}) {
  const btn = h(
    'button',
    {
      type: 'button',
      class: `lume-btn ${iconOnly ? 'lume-btn--icon ' : ''}${className}`.trim(),
      title: iconOnly ? label : undefined,
      'aria-label': iconOnly ? label : undefined,
      onclick: onClick,
    },
    iconName ? icon(iconName) : null,
    iconOnly ? null : h('span', { class: 'lume-btn__label', text: label }),
  );
  return btn;
}

/**
 * Puts text on the clipboard: navigator.clipboard where the page allows it, otherwise a
 * hidden textarea and execCommand("copy") (older webviews, insecure origins).
 * Resolves to true when the text was copied.
 */
export async function copyText(text) {
  if (typeof navigator !== 'undefined' && navigator.clipboard && navigator.clipboard.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused or not a secure context: try the old way below.
    }
  }
  const area = h('textarea', { readonly: true, 'aria-hidden': 'true' });
  area.value = text;
  // Appended to <body>, outside the panel's scoped CSS, so it is hidden inline.
  Object.assign(area.style, { position: 'fixed', top: '0', left: '-9999px', opacity: '0' });
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}
