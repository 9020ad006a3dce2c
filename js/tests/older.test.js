// @vitest-environment jsdom
// The "older messages" bar of a long consultation: scrolling asks once per count, a click
// always asks (a page that failed to come can be asked for again).
import { describe, expect, it } from 'vitest';
import { createTranscript } from '../src/transcript_view.js';
import { fromTraits, visibleItems } from '../src/transcript.js';

describe('older messages bar', () => {
  it('test_older_bar_click_asks_again_for_a_page_that_did_not_come', () => {
    let asked = 0;
    const view = createTranscript(
      { showAll: () => {}, rate: () => {}, loadOlder: () => { asked += 1; } },
      { announce: () => {}, afterDraw: () => {} },
    );
    const state = fromTraits({ messages: [], pending: null });
    view.render(visibleItems(state), { firstRender: true, words: {}, ratings: {}, older: 300 });
    const bar = view.el.querySelector('.lume-older');
    expect(bar.hidden).toBe(false);
    expect(bar.textContent).toContain('300 older messages');
    const load = bar.querySelector('button');
    load.click();
    expect(asked).toBe(1);
    // The page failed: the count is unchanged, and the reader clicks again.
    view.render(visibleItems(state), { firstRender: false, words: {}, ratings: {}, older: 300 });
    load.click();
    expect(asked).toBe(2);
    view.destroy();
  });
});
