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

const ICONS = {};

/**
 * A decorative 16 px icon (aria-hidden; label the button): a span whose shape is a CSS mask
 * (styles.css, `.lume-icon--<name>`: the shapes cost the stylesheet, not the script bundle)
 * painted in the text colour. Made once per name and cloned after that.
 */
export function icon(name) {
  if (!ICONS[name]) ICONS[name] = h('span', { class: `lume-icon lume-icon--${name}`, 'aria-hidden': 'true' });
  return ICONS[name].cloneNode(true);
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
