/**
 * Smart autoscroll for the transcript: follow new content only while the reader is at the
 * bottom; once they scroll up, leave them there and offer a "jump to latest" button.
 *
 * "At the bottom" is decided from the reader's own scrolling (scroll, wheel, touch and key
 * events), never from the content growing, so a fast stream cannot pull a reader down.
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
    this.onScroll = () => {
      this.following = this.distance() <= BOTTOM_SLACK_PX;
      if (this.following) this.setJump(false);
    };
    this.onWheel = (event) => {
      // Scrolling up is an intent to read back; do not wait for the scroll event.
      if (event.deltaY < 0 && this.scroller.scrollTop > 0) this.following = false;
    };
    this.onKey = (event) => {
      if (['PageUp', 'ArrowUp', 'Home'].includes(event.key) && event.target === this.scroller) {
        this.following = false;
      }
    };
    this.onJump = () => this.toBottom();
    scroller.addEventListener('scroll', this.onScroll, { passive: true });
    scroller.addEventListener('wheel', this.onWheel, { passive: true });
    scroller.addEventListener('keydown', this.onKey);
    jump.addEventListener('click', this.onJump);
    this.setJump(false);
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
    this.following = true;
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.setJump(false);
  }

  /** Called after the DOM changed: follow, or show the button when there is more below. */
  afterRender() {
    if (this.following) {
      if (this.distance() > 0) this.scroller.scrollTop = this.scroller.scrollHeight;
      this.setJump(false);
    } else {
      this.setJump(this.distance() > BOTTOM_SLACK_PX);
    }
  }

  destroy() {
    this.scroller.removeEventListener('scroll', this.onScroll);
    this.scroller.removeEventListener('wheel', this.onWheel);
    this.scroller.removeEventListener('keydown', this.onKey);
    this.jump.removeEventListener('click', this.onJump);
  }
}
