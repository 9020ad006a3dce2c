/**
 * The composer: the message box, Send/Stop, the hint line and the error banner.
 *
 * Keyboard rules (the notebook around the panel must never see them):
 * - Enter sends, Shift+Enter adds a line, both handled here: the key never reaches the host
 *   (JupyterLab listens for keys on the document and, inside a cell, swallows the line break
 *   of Shift+Enter; Notebook 7 listens first, and `data-lm-suppress-shortcuts` keeps its
 *   shortcuts off the panel). Keys with Ctrl, Alt or Cmd go through, so Ctrl+S still saves.
 * - The box stays editable while a reply streams: Enter then does not send (the button is
 *   Stop), and the draft is kept. When the reply ends, focus comes back to the box if it was
 *   in the composer when the message was sent and has not gone elsewhere since.
 * - The box is disabled only when nothing can be done from this page (the kernel is gone).
 *
 * State kept here is the composer's own: the hint it raised, the error the user dismissed,
 * whether focus should come back after the reply.
 */

import { button, h, icon } from './dom.js';
import { humanize } from './format.js';

/** The backend's limit on a message, after trimming (PROTOCOL A1), in characters (code points). */
export const MAX_MESSAGE_CHARS = 5000;
const MAX_INPUT_HEIGHT_PX = 200;

/** Characters as the backend counts them: code points, so an emoji is one, not two. */
export function charCount(text) {
  let n = 0;
  // eslint-disable-next-line no-unused-vars
  for (const _ of String(text)) n += 1;
  return n;
}

/** Why a message cannot be sent now, or '' when it can (pure: tested in node). */
export function sendBlocker(text, traits) {
  const trimmed = String(text).trim();
  if (!trimmed) return 'empty';
  if (traits.pending) return 'busy';
  if (traits.input_enabled === false) return 'blocked';
  if (charCount(trimmed) > MAX_MESSAGE_CHARS) return 'too_long';
  return '';
}

/** The hint line under the box: [text, kind]. */
export function hintFor(traits, localHint) {
  if (localHint) return [localHint, 'warn'];
  if (traits.input_enabled === false) {
    return [traits.input_disabled_reason || 'You cannot send right now.', 'blocked'];
  }
  if (traits.pending) return ['A reply is on its way: keep typing, Enter sends once it is done. Escape or Stop ends it.', 'busy'];
  return ['Enter to send, Shift+Enter for a new line', 'idle'];
}

/** Inserts a line break at the caret as typing would (undoable where the browser allows). */
function insertLineBreak(input) {
  let done = false;
  try {
    done = typeof document.execCommand === 'function' && document.execCommand('insertText', false, '\n');
  } catch {
    done = false;
  }
  if (!done) {
    input.setRangeText('\n', input.selectionStart, input.selectionEnd, 'end');
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }
}

/**
 * Builds the composer. `actions`: send(text), stop(), retry(), newConsultation(),
 * completeOldest(), sent() (after a send, so the transcript can follow). Returns {el, input, render(traits), focus(), restoreFocus()}.
 */
export function createComposer(actions, { hintId }) {
  let traits = {};
  let localHint = '';
  let dismissedError = '';
  let refocus = false;

  const input = h('textarea', { class: 'lume-input', rows: '1', 'aria-label': 'Message', placeholder: 'Message Lume',
    'aria-describedby': hintId });
  const sendButton = button('Send', 'send', () => trySend(), { iconOnly: true, className: 'lume-send' });
  const stopButton = button('Stop', 'stop', () => actions.stop(), { className: 'lume-stop' });
  stopButton.title = 'Stop the reply (Escape)';
  const hint = h('div', { class: 'lume-hint', id: hintId });

  const errorText = h('p', { class: 'lume-error__text' });
  const retryButton = button('Retry', 'retry', () => actions.retry(), { className: 'lume-btn--primary lume-retry' });
  // What the banner offers instead of Retry when retrying cannot succeed (error_action).
  const newButton = button('Open a new consultation', 'plus', () => {
    restoreUnsent();
    actions.newConsultation();
  }, { className: 'lume-btn--primary lume-recover' });
  const oldestButton = button('Complete the oldest', 'check', () => actions.completeOldest(),
    { className: 'lume-btn--primary lume-recover' });
  /** Puts the text that was not sent back in the box (unless the user typed something new). */
  function restoreUnsent() {
    if (traits.unsent_text && !input.value.trim()) {
      input.value = traits.unsent_text;
      resize();
    }
    input.focus();
  }
  const editButton = button('Edit message', 'edit', () => {
    input.value = traits.unsent_text || '';
    resize();
    input.focus();
  }, { className: 'lume-btn--ghost' });
  const dismissButton = button('Dismiss', 'close', () => {
    dismissedError = traits.error;
    errorBanner.hidden = true;
    input.focus();
  }, { iconOnly: true, className: 'lume-dismiss' });
  const errorBanner = h('div', { class: 'lume-error', role: 'alert', hidden: true },
    icon('alert'), errorText,
    h('div', { class: 'lume-error__actions' }, retryButton, newButton, oldestButton, editButton, dismissButton));

  const box = h('div', { class: 'lume-inputbox' }, input, stopButton, sendButton);
  const el = h('footer', { class: 'lume-composer' }, errorBanner, box, hint);

  function resize() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_INPUT_HEIGHT_PX)}px`;
  }

  function trySend() {
    const text = input.value.trim();
    const blocker = sendBlocker(text, traits);
    if (blocker === 'too_long') {
      const n = charCount(text);
      localHint = `This message has ${n.toLocaleString()} characters; the limit is ${MAX_MESSAGE_CHARS.toLocaleString()}. Shorten it to send.`;
      render(traits);
      return;
    }
    if (blocker) return;
    localHint = '';
    refocus = el.contains(document.activeElement);
    actions.send(text);
    input.value = '';
    resize();
    // Send turns into Stop under the pointer: keep the keyboard in the box.
    if (refocus && document.activeElement !== input) input.focus({ preventScroll: true });
    actions.sent();
    render(traits);
  }

  input.addEventListener('input', () => {
    resize();
    if (localHint && charCount(input.value.trim()) <= MAX_MESSAGE_CHARS) {
      localHint = '';
      render(traits);
    }
  });
  input.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return; // host shortcuts (save, ...)
    if (event.key === 'Escape') return; // the panel's handler decides (stop, close a drawer)
    event.stopPropagation();
    if (event.key !== 'Enter' || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (event.shiftKey) insertLineBreak(input);
    else trySend();
  });

  /** After the reply: focus back in the box if it was in the composer and is now nowhere. */
  function restoreFocus() {
    if (!refocus) return;
    refocus = false;
    const active = document.activeElement;
    const lost = !active || active === document.body || active === stopButton || active === sendButton
      || (el.contains(active) && (active.disabled || active.hidden));
    if ((lost || active === input) && !input.disabled) input.focus({ preventScroll: true });
  }

  function render(next) {
    const wasPending = Boolean(traits.pending);
    traits = next;
    const pending = Boolean(next.pending);
    const enabled = next.input_enabled !== false;
    const gone = Boolean(next.kernel_gone);
    if (input.disabled !== gone) input.disabled = gone;
    const stopHadFocus = document.activeElement === stopButton;
    stopButton.hidden = !pending;
    sendButton.hidden = pending;
    sendButton.disabled = !enabled;
    if (stopHadFocus && !pending) input.focus({ preventScroll: true });
    const [text, kind] = hintFor(next, localHint);
    if (hint.textContent !== text) hint.textContent = text;
    hint.className = `lume-hint lume-hint--${kind}`;
    input.placeholder = gone ? 'Run the cell again to chat' : next.placeholder || `Message ${humanize(next.persona) || 'Lume'}`;
    const error = next.error || '';
    if (error !== dismissedError) dismissedError = '';
    errorBanner.hidden = !error || error === dismissedError;
    errorText.textContent = error;
    const recovery = gone ? '' : next.error_action || '';
    retryButton.hidden = !next.unsent_text || pending || gone || Boolean(recovery);
    newButton.hidden = recovery !== 'new_consultation' || pending;
    oldestButton.hidden = recovery !== 'complete_oldest' || pending;
    editButton.hidden = !next.unsent_text || gone || recovery === 'new_consultation';
    if (wasPending && !pending) restoreFocus();
  }

  return { el, input, render, focus: () => input.focus(), restoreFocus };
}
