/**
 * Transcript rows: a finished message, the pending user message, and the streaming draft.
 *
 * User text is always a text node. Assistant text is markdown rendered by markdown.js
 * (sanitized); a finished reply is parsed once, and when it is the reply that was just
 * streamed, the draft's row becomes the finished row instead of parsing 40 KB again.
 */

import { button, copyText, h, icon } from './dom.js';
import { formatTime, metricsParts } from './format.js';
import { highlightPending, renderFinished, StreamingMarkdown, UNLIT_CLASS } from './markdown.js';

const COPIED_MS = 1500;
/** HTML characters per group of streamed blocks (see DraftRow.appendBlock). */
const GROUP_CHARS = 6000;

function timeEl(iso) {
  const time = formatTime(iso);
  if (!time) return null;
  return h('time', { class: 'lume-time', datetime: time.iso, title: time.full, text: time.short });
}

/** A copy button that shows "Copied" for a moment; `announce` tells screen readers. */
function copyButton(getText, announce, label = 'Copy message') {
  const btn = button(label, 'copy', async () => {
    const ok = await copyText(getText());
    btn.classList.toggle('lume-btn--done', ok);
    btn.replaceChild(icon(ok ? 'check' : 'copy'), btn.firstChild);
    announce(ok ? 'Copied to the clipboard.' : 'Could not copy: select the text and copy it by hand.');
    setTimeout(() => {
      if (!btn.isConnected) return;
      btn.classList.remove('lume-btn--done');
      btn.replaceChild(icon('copy'), btn.firstChild);
    }, COPIED_MS);
  }, { iconOnly: true, className: 'lume-copy' });
  return btn;
}

/** Adds a copy button to every code block of a rendered reply. */
function addCodeCopyButtons(container, announce) {
  for (const pre of container.querySelectorAll('pre')) {
    if (pre.querySelector(':scope > .lume-copy')) continue;
    const code = pre.querySelector('code');
    pre.append(copyButton(() => (code || pre).textContent, announce, 'Copy code'));
  }
}

function avatar(role) {
  return h('div', { class: `lume-avatar lume-avatar--${role}`, 'aria-hidden': 'true', text: role === 'user' ? 'You' : 'L' });
}

function row(role, key, ...children) {
  return h('div', { class: `lume-row lume-row--${role}`, 'data-key': key, role: 'article' }, ...children);
}

const STATUS_TAGS = { stopped: 'Stopped', error: 'Interrupted', unsent: 'Not sent' };

function finishedMeta(message, role, content, announce) {
  const tag = STATUS_TAGS[message.status];
  const meta = h(
    'div',
    { class: 'lume-meta' },
    h('span', { class: 'lume-who', text: role === 'user' ? 'You' : 'Lume' }),
    timeEl(message.created_at),
    tag ? h('span', { class: `lume-tag lume-tag--${message.status}`, text: tag }) : null,
    copyButton(() => content, announce),
  );
  const parts = role === 'assistant' ? metricsParts(message.metrics) : [];
  const metrics = parts.length
    ? h('div', { class: 'lume-metrics', title: 'Time to first token, duration, chunks, tier' },
      ...parts.map((part) => h('span', { class: 'lume-metric', text: part })))
    : null;
  return { meta, metrics };
}

function markFinished(el, message) {
  el.dataset.key = `m:${message.id}`;
  el.dataset.messageId = String(message.id);
  if (message.status) el.dataset.status = String(message.status);
  return el;
}

/**
 * The row of a finished message; its content never changes afterwards.
 *
 * With `draft` (the row that streamed this reply), that row becomes the finished one in
 * place: its rendered blocks are kept, so a long reply is neither parsed nor laid out again.
 * With `lazy`, code is left uncoloured until a LazyHighlighter sees the row (off-screen rows
 * of a long history).
 */
export function messageRow(message, announce, draft = null, { lazy = false } = {}) {
  const role = message.role === 'user' ? 'user' : 'assistant';
  const content = String(message.content ?? '');
  const { meta, metrics } = finishedMeta(message, role, content, announce);
  if (draft && role === 'assistant') {
    const md = draft.adopt();
    md.classList.remove('lume-md--streaming');
    addCodeCopyButtons(md, announce);
    draft.typing.remove();
    draft.meta.replaceWith(meta);
    if (metrics) draft.column.append(metrics);
    draft.el.classList.remove('lume-row--draft');
    return markFinished(draft.el, message);
  }
  const bubble = h('div', { class: 'lume-bubble' });
  if (role === 'user') {
    bubble.append(h('div', { class: 'lume-text', text: content }));
  } else {
    const md = h('div', { class: 'lume-md' });
    md.innerHTML = renderFinished(content, { lazy });
    addCodeCopyButtons(md, announce);
    bubble.append(md);
  }
  const column = h('div', { class: 'lume-col' }, bubble, meta, metrics);
  return markFinished(row(role, `m:${message.id}`, role === 'assistant' ? avatar(role) : null, column), message);
}

/**
 * Colours the code of lazily rendered rows when they come within `margin` of the visible
 * part of `root` (an IntersectionObserver); where there is none, at once.
 */
export class LazyHighlighter {
  constructor(root, margin = '800px 0px') {
    this.observer = typeof IntersectionObserver === 'function'
      ? new IntersectionObserver((entries) => this.seen(entries), { root, rootMargin: margin })
      : null;
  }

  seen(entries) {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      this.observer.unobserve(entry.target);
      highlightPending(entry.target);
    }
  }

  /** Watches a row if it has code left to colour. */
  watch(el) {
    if (!el.querySelector(`code.${UNLIT_CLASS}`)) return;
    if (this.observer) this.observer.observe(el);
    else highlightPending(el);
  }

  /** Stops watching a row that left the transcript. */
  unwatch(el) {
    if (this.observer) this.observer.unobserve(el);
  }

  destroy() {
    if (this.observer) this.observer.disconnect();
  }
}

/** The user's message while its turn is in flight: "Sending", then "Sent" once stored. */
export class PendingUserRow {
  constructor(item) {
    const bubble = h('div', { class: 'lume-bubble' }, h('div', { class: 'lume-text', text: String(item.text ?? '') }));
    this.tag = h('span', { class: 'lume-tag lume-tag--sending' });
    const meta = h('div', { class: 'lume-meta' }, h('span', { class: 'lume-who', text: 'You' }), timeEl(item.created_at), this.tag);
    this.el = row('user', item.key, h('div', { class: 'lume-col' }, bubble, meta));
    this.update(item);
  }

  update(item) {
    const text = item.tag || 'Sending';
    if (this.tag.textContent !== text) this.tag.textContent = text;
    this.tag.className = `lume-tag lume-tag--${text === 'Sent' ? 'sent' : 'sending'}`;
  }
}

/** The reply being streamed: a typing indicator, then markdown rendered incrementally. */
export class DraftRow {
  constructor(item) {
    this.key = item.key;
    this.text = '';
    this.markdown = new StreamingMarkdown();
    this.stable = h('div', { class: 'lume-md__stable' });
    this.tail = h('div', { class: 'lume-md__tail' });
    this.content = h('div', { class: 'lume-md lume-md--streaming' }, this.stable, this.tail);
    this.typing = h('div', { class: 'lume-typing', role: 'status', 'aria-label': 'Lume is typing' },
      h('span'), h('span'), h('span'));
    this.label = h('span', { class: 'lume-tag lume-tag--streaming', text: 'Streaming' });
    const bubble = h('div', { class: 'lume-bubble' }, this.typing, this.content);
    this.meta = h('div', { class: 'lume-meta' }, h('span', { class: 'lume-who', text: 'Lume' }), this.label);
    this.column = h('div', { class: 'lume-col' }, bubble, this.meta);
    this.el = row('assistant', item.key, avatar('assistant'), this.column);
    this.el.classList.add('lume-row--draft');
    this.lastTail = null;
    this.typingShown = null;
    this.group = null;
    this.groupChars = 0;
    this.update(item);
  }

  /** Brings the row up to `item`: only new blocks are appended, only the tail is redone. */
  update(item) {
    const typing = Boolean(item.typing);
    if (typing !== this.typingShown) {
      this.typing.hidden = !typing;
      this.content.hidden = typing;
      this.typingShown = typing;
    }
    this.label.textContent = item.streaming ? item.label || 'Streaming' : 'Interrupted';
    this.label.className = `lume-tag lume-tag--${item.streaming ? 'streaming' : 'error'}`;
    this.content.classList.toggle('lume-md--streaming', Boolean(item.streaming));
    if (item.text === this.text) return;
    this.text = item.text;
    const { blocks, tail, reset } = this.markdown.update(item.text);
    if (reset) {
      this.stable.textContent = '';
      this.group = null;
    }
    for (const html of blocks) this.appendBlock(html);
    if (tail !== this.lastTail) {
      this.tail.innerHTML = tail;
      this.lastTail = tail;
    }
  }

  /**
   * Appends finished HTML to the current group of blocks. Groups are contained and skipped
   * by layout and paint while off screen (content-visibility), so a frame of a long reply
   * costs what is visible, not everything streamed so far.
   */
  appendBlock(html) {
    if (!this.group || this.groupChars >= GROUP_CHARS) {
      this.group = h('div', { class: 'lume-md__group' });
      this.groupChars = 0;
      this.stable.append(this.group);
    }
    this.group.insertAdjacentHTML('beforeend', html);
    this.groupChars += html.length;
  }

  /** Hands over the rendered content for the finished message with the same text. */
  adopt() {
    const rest = this.markdown.finish();
    if (rest) this.appendBlock(rest);
    this.tail.textContent = '';
    this.lastTail = '';
    this.content.hidden = false;
    return this.content;
  }
}
