/**
 * Smart autoscroll for the transcript: follow new content only while the reader is at the
 * bottom; once they scroll up, leave them there and offer a "jump to latest" button.
 *
 * "At the bottom" is decided from the reader's own scrolling (scroll, wheel, touch and key
 * events, and a scroll upwards), never from the content changing size: while following, the
 * transcript opts out of scroll anchoring and is pinned to the bottom whenever its content
 * resizes (rows taking their real height in place of a stand-in, older rows drawn in above),
 * so neither a fast stream nor a long history being drawn can pull the view off the bottom.
 * Once the reader leaves the bottom, scroll anchoring keeps their place.
 */

/** Distance from the bottom (px) that still counts as "at the bottom". */
export const BOTTOM_SLACK_PX = 16;

export class AutoScroll {
  /**
   * @param {HTMLElement} scroller the scrolling transcript
   * @param {HTMLElement} jump the "jump to latest" button (hidden while following)
   */
  constructor(scroller, jump) {
    this.scroller = scroller;
    this.jump = jump;
    this.following = true;
    this.lastTop = scroller.scrollTop;
    this.onScroll = () => {
      const top = this.scroller.scrollTop;
      const movedUp = top < this.lastTop - 1;
      this.lastTop = top;
      if (this.following && !movedUp) {
        // Not the reader leaving: a layout change or our own pinning. Stay at the bottom.
        this.pin();
        return;
      }
      this.setFollowing(this.distance() <= BOTTOM_SLACK_PX);
      if (this.following) this.setJump(false);
    };
    this.onWheel = (event) => {
      // Scrolling up is an intent to read back; do not wait for the scroll event.
      if (event.deltaY < 0 && this.scroller.scrollTop > 0) this.setFollowing(false);
    };
    this.onKey = (event) => {
      if (['PageUp', 'ArrowUp', 'Home'].includes(event.key) && event.target === this.scroller) {
        this.setFollowing(false);
      }
    };
    // Content resizing fires no scroll event: re-pin when it does, while following.
    this.resizes = typeof ResizeObserver === 'function' ? new ResizeObserver(() => {
      if (this.following) this.pin();
    }) : null;
    for (const child of scroller.children) this.resizes?.observe(child);
    this.setFollowing(true);
    this.onJump = () => this.toBottom();
    scroller.addEventListener('scroll', this.onScroll, { passive: true });
    scroller.addEventListener('wheel', this.onWheel, { passive: true });
    scroller.addEventListener('keydown', this.onKey);
    jump.addEventListener('click', this.onJump);
    this.setJump(false);
  }

  /** Following opts out of scroll anchoring: the bottom, not a row, is what stays put. */
  setFollowing(following) {
    this.following = following;
    this.scroller.classList.toggle('lume-transcript--following', following);
  }

  /** Scrolls to the very bottom if not there (no scroll event when already there). */
  pin() {
    const s = this.scroller;
    if (this.distance() > 0) s.scrollTop = s.scrollHeight;
    this.lastTop = s.scrollTop;
  }

  distance() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight;
  }

  setJump(visible) {
    if (this.jump.hidden === !visible) return;
    this.jump.hidden = !visible;
  }

  /** Scrolls to the newest content and follows it again (jump button, sending a message). */
  toBottom() {
    this.setFollowing(true);
    this.pin();
    this.setJump(false);
  }

  /** Called after the DOM changed: follow, or show the button when there is more below. */
  afterRender() {
    if (this.following) {
      this.pin();
      this.setJump(false);
    } else {
      this.setJump(this.distance() > BOTTOM_SLACK_PX);
    }
  }

  destroy() {
    this.resizes?.disconnect();
    this.scroller.removeEventListener('scroll', this.onScroll);
    this.scroller.removeEventListener('wheel', this.onWheel);
    this.scroller.removeEventListener('keydown', this.onKey);
    this.jump.removeEventListener('click', this.onJump);
  }
}
