/**
 * Markdown for assistant replies: marked -> HTML -> DOMPurify, with highlighted code, and an
 * incremental renderer for a reply that is still streaming.
 *
 * Model output is untrusted. Raw HTML in the markdown is shown as text (marked's `html`
 * tokens are escaped), and whatever marked produces is sanitized by a private DOMPurify
 * instance: no scripts, inline event handlers, javascript: URLs, styles, forms or embedded
 * frames; links open in a new tab with rel="noopener noreferrer".
 *
 * Streaming (shinychat #164, gradio #7084: re-parsing the whole reply per chunk freezes the
 * browser): `StreamingMarkdown` scans only the new lines of each update, cuts the text at the
 * last blank line outside a code fence, parses each finished stretch once and keeps its
 * HTML, and re-renders only the tail after the cut.
 *
 * Code is coloured for Python and JSON (compact grammars of our own, python.js); other fences
 * are shown as plain code: each of highlight.js's grammars costs the bundle 3-7 KB of its
 * 150 KB budget.
 */

import DOMPurify from 'dompurify/purify.min.js';
import hljs from 'highlight.js/lib/core';
import { Marked } from 'marked';

import python, { json } from './python.js';

hljs.registerLanguage('json', json);
hljs.registerLanguage('python', python);

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe to put between tags or in an attribute. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** The registered language a fence's info string names, or '' when there is none. */
function knownLanguage(lang) {
  const name = (lang || '').trim().split(/\s+/)[0].toLowerCase();
  return name && hljs.getLanguage(name) ? name : '';
}

function highlight(code, lang) {
  const name = knownLanguage(lang);
  if (name) {
    try {
      return { html: hljs.highlight(code, { language: name, ignoreIllegals: true }).value, name };
    } catch {
      // A grammar that chokes on odd input must not lose the code: fall through to plain text.
    }
  }
  return { html: escapeHtml(code), name: '' };
}

/** While true, code blocks are left plain and marked for `highlightPending` (lazy rows). */
let deferHighlight = false;
/** Class of a code element whose highlighting was deferred. */
export const UNLIT_CLASS = 'lume-unlit';

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Raw HTML from the model is shown as the text it is, never interpreted.
    html({ text }) {
      return escapeHtml(text);
    },
    code({ text, lang }) {
      const code = text.replace(/\n$/, '');
      const known = knownLanguage(lang);
      const { html, name } = deferHighlight && known
        ? { html: escapeHtml(code), name: known }
        : highlight(code, lang);
      const label = name ? ` data-lang="${escapeHtml(name)}"` : '';
      const unlit = deferHighlight && known ? ` ${UNLIT_CLASS}` : '';
      const cls = name ? ` class="hljs language-${escapeHtml(name)}${unlit}"` : ' class="hljs"';
      return `<pre${label}><code${cls}>${html}</code></pre>\n`;
    },
    checkbox({ checked }) {
      return `<span class="lume-task${checked ? ' lume-task--done' : ''}" aria-label="${checked ? 'done' : 'to do'}"></span> `;
    },
  },
});

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: [
    'style', 'link', 'meta', 'base', 'form', 'input', 'button', 'textarea', 'select', 'option',
    'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'dialog', 'template', 'video',
    'audio', 'source', 'track', 'picture', 'portal', 'noscript',
  ],
  FORBID_ATTR: ['style', 'id', 'name', 'srcset', 'formaction', 'autofocus', 'tabindex', 'xlink:href'],
  ADD_ATTR: ['target'],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: true,
};

let purifier = null;

function getPurifier() {
  if (purifier) return purifier;
  purifier = DOMPurify(typeof window === 'undefined' ? undefined : window);
  purifier.addHook('uponSanitizeAttribute', (node, data) => {
    // Only the code-language label may use a data attribute.
    if (data.attrName === 'data-lang' && node.nodeName === 'PRE') data.forceKeepAttr = true;
  });
  purifier.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A') {
      if (node.hasAttribute('href')) {
        node.setAttribute('target', '_blank');
        node.setAttribute('rel', 'noopener noreferrer');
      } else {
        node.removeAttribute('target');
      }
    } else if (node.nodeName === 'IMG') {
      node.setAttribute('loading', 'lazy');
      node.setAttribute('referrerpolicy', 'no-referrer');
    } else if (node.hasAttribute && node.hasAttribute('target')) {
      node.removeAttribute('target');
    }
  });
  return purifier;
}

/** HTML from anywhere, made inert: the one sanitizer every rendered reply goes through. */
export function sanitize(html) {
  return getPurifier().sanitize(html, SANITIZE);
}

/** Parse counter, for tests that check finished blocks are parsed once. */
export const stats = { parses: 0, parsedChars: 0 };

/**
 * Markdown source -> sanitized HTML string. With `lazy`, code blocks in a known language
 * are left as plain (escaped) text with the UNLIT_CLASS, for `highlightPending` to colour
 * once they are about to be seen: highlighting is most of the cost of a code-heavy reply.
 */
export function renderMarkdown(source, { lazy = false } = {}) {
  stats.parses += 1;
  stats.parsedChars += source.length;
  deferHighlight = lazy;
  try {
    return sanitize(marked.parse(source));
  } finally {
    deferHighlight = false;
  }
}

const FINISHED_CACHE_LIMIT = 200;
const finishedCache = new Map();

/** A finished message's HTML, parsed once per distinct text and mode (cached, bounded). */
export function renderFinished(source, { lazy = false } = {}) {
  const key = `${lazy ? 'l' : 'h'}${source}`;
  const hit = finishedCache.get(key);
  if (hit !== undefined) return hit;
  const html = renderMarkdown(source, { lazy });
  finishedCache.set(key, html);
  if (finishedCache.size > FINISHED_CACHE_LIMIT) {
    finishedCache.delete(finishedCache.keys().next().value);
  }
  return html;
}

/**
 * Highlights the code blocks of `container` that a lazy render left plain. The code's own
 * text is highlighted (hljs escapes it) and the result goes through the same sanitizer as
 * everything else. Returns how many blocks were highlighted.
 */
export function highlightPending(container) {
  let count = 0;
  for (const code of container.querySelectorAll(`pre > code.${UNLIT_CLASS}`)) {
    const { html } = highlight(code.textContent, code.parentElement.getAttribute('data-lang'));
    code.innerHTML = sanitize(html);
    code.classList.remove(UNLIT_CLASS);
    count += 1;
  }
  return count;
}

const WARM_UP_SNIPPETS = [
  '# t\n\nA *b* **c** `d` [e](https://example.org)\n\n- f\n1. g\n\n> h\n\n| i | j |\n|---|---|\n| 1 | 2 |\n',
  '```python\ndef f(x: int) -> str:\n    return f"{x}"  # c\n```\n',
  '```json\n{"a": [1, true, null]}\n```\n',
];
let warmed = false;

/**
 * Compiles the grammars and warms the parser and sanitizer in idle time, one small piece
 * per idle callback, so the first streamed reply does not pay for it in long frames.
 */
export function warmUp() {
  if (warmed) return;
  warmed = true;
  const idle = typeof requestIdleCallback === 'function'
    ? (fn) => requestIdleCallback(fn, { timeout: 2000 })
    : (fn) => setTimeout(fn, 50);
  const queue = [...WARM_UP_SNIPPETS];
  const step = () => {
    const snippet = queue.shift();
    if (snippet === undefined) return;
    sanitize(marked.parse(snippet));
    idle(step);
  };
  idle(step);
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/**
 * Incremental markdown for a growing text. `update(text)` takes the whole draft so far
 * (append-only; anything else restarts) and returns `{blocks, tail, reset}`: the HTML of
 * stretches that became final since the last call (to append, never to redo), the HTML of
 * the unfinished tail (to replace), and whether earlier blocks must be thrown away.
 */
export class StreamingMarkdown {
  constructor(render = renderMarkdown) {
    this.render = render;
    this.restart();
  }

  restart() {
    this.text = '';
    this.stableEnd = 0; // text[0:stableEnd] is parsed for good
    this.scanPos = 0; // start of the first line not scanned yet
    this.fence = null; // {char, length} while inside a fenced code block
    this.cut = 0; // end of the last blank line outside a fence
    this.blockCount = 0;
  }

  scan() {
    const { text } = this;
    let pos = this.scanPos;
    for (;;) {
      const nl = text.indexOf('\n', pos);
      if (nl === -1) break;
      const line = text.slice(pos, nl);
      this.scanLine(line, nl + 1);
      pos = nl + 1;
    }
    this.scanPos = pos;
  }

  scanLine(line, after) {
    if (this.fence) {
      const close = FENCE_OPEN.exec(line);
      if (
        close &&
        close[1][0] === this.fence.char &&
        close[1].length >= this.fence.length &&
        close[2].trim() === ''
      ) {
        this.fence = null;
      }
      return;
    }
    const open = FENCE_OPEN.exec(line);
    if (open && !(open[1][0] === '`' && open[2].includes('`'))) {
      this.fence = { char: open[1][0], length: open[1].length };
      return;
    }
    if (line.trim() === '') this.cut = after;
  }

  update(text) {
    let reset = false;
    if (text.length < this.text.length || !text.startsWith(this.text)) {
      this.restart();
      reset = true;
    }
    this.text = text;
    this.scan();
    const blocks = [];
    if (this.cut > this.stableEnd) {
      blocks.push(this.render(text.slice(this.stableEnd, this.cut)));
      this.stableEnd = this.cut;
      this.blockCount += 1;
    }
    const rest = text.slice(this.stableEnd);
    const tail = rest.trim() === '' ? '' : this.render(rest);
    return { blocks, tail, reset };
  }

  /** Everything after the cut as a final block: the text is complete. */
  finish() {
    const rest = this.text.slice(this.stableEnd);
    this.stableEnd = this.text.length;
    this.scanPos = this.text.length;
    return rest.trim() === '' ? '' : this.render(rest);
  }
}
