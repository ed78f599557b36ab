// A chart that draws one server answer and asks for it again while the search runs: the refresh rule of
// the importance, hypervolume and latency-predictor charts, in one place. Subclasses implement
// `render(answer)`; an answer identical to the one drawn is not drawn again.

export class PolledAnswer {
  /**
   * `fetch()` resolves to the API's answer; `isRunning()` says whether to keep asking; `minWaitMs` is the
   * shortest pause between two asks (longer when the server is slower: ten times its last answer's time);
   * `label` names the answer in the console when a fetch fails.
   */
  constructor({ fetch, isRunning, minWaitMs, label }) {
    Object.assign(this, { fetch, isRunning, minWaitMs, label });
    this.shown = null; // the last answer drawn, as JSON
    this.active = false; // a fetch in flight or scheduled
  }

  /** Start asking again (a resumed search) unless a fetch is already in flight or scheduled. */
  wake() {
    if (!this.active) this.start();
  }

  /** Fetch and draw now, then again every while the search runs, and once more after it ends. */
  async start() {
    this.active = true;
    const running = this.isRunning();
    const started = Date.now();
    try {
      await this.draw(await this.fetch());
    } catch (err) {
      console.warn(`${this.label} unavailable`, err);
    }
    // A fetch that began while running may predate the last candidates: the one after the end is final.
    if (running) setTimeout(() => this.start(), Math.max(this.minWaitMs, 10 * (Date.now() - started)));
    else this.active = false;
  }

  draw(answer) {
    const text = JSON.stringify(answer);
    if (text === this.shown) return;
    this.shown = text;
    return this.render(answer);
  }
}
