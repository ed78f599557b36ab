// Live updates for one search: the SSE stream first (the browser resends Last-Event-ID on reconnect),
// a catch-up read of `?after=` after every reconnect, and plain polling when the stream is unavailable.

import { api, readAllCandidates } from "./api.js";

const POLL_MS = 1000;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export class LiveFeed {
  /**
   * @param {number} searchId
   * @param {number} cursor  the `next_after` of the initial read
   * @param {{onCandidates: Function, onSearch: Function, onMode?: Function}} handlers
   */
  constructor(searchId, cursor, handlers) {
    this.searchId = searchId;
    this.cursor = cursor;
    this.h = handlers;
    this.source = null;
    this.timer = null;
    this.mode = "idle";
    this.hadError = false;
    this.terminal = false;
  }

  start() {
    if (typeof EventSource === "function") this._openStream();
    else this._startPolling();
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.timer);
    this.timer = null;
    this._setMode("stopped");
  }

  _setMode(mode) {
    if (this.mode === mode) return;
    this.mode = mode;
    if (this.h.onMode) this.h.onMode(mode);
  }

  _openStream() {
    const es = new EventSource(api.eventsUrl(this.searchId, this.cursor));
    this.source = es;
    es.addEventListener("open", () => {
      this._setMode("stream");
      // Anything committed while the stream was down is read from the cursor, not trusted to replay.
      if (this.hadError) this._catchUp();
      this.hadError = false;
    });
    es.addEventListener("candidate", (ev) => {
      const c = JSON.parse(ev.data);
      this._advance(ev.lastEventId, c.seq);
      this.h.onCandidates([c]);
    });
    es.addEventListener("search", (ev) => {
      const s = JSON.parse(ev.data);
      this._advance(ev.lastEventId, s.seq);
      this.h.onSearch(s);
    });
    es.addEventListener("error", () => {
      this.hadError = true;
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (or it ended for good): poll instead.
        this.source = null;
        if (!this.terminal) this._startPolling();
        else this._setMode("stopped");
      } else {
        this._setMode("reconnecting");
      }
    });
  }

  _advance(lastEventId, seq) {
    const n = Number(lastEventId || seq);
    if (Number.isFinite(n) && n > this.cursor) this.cursor = n;
  }

  async _catchUp() {
    try {
      this.cursor = await readAllCandidates(this.searchId, this.cursor, (items) => this.h.onCandidates(items));
      const s = await api.getSearch(this.searchId);
      this.h.onSearch(s);
    } catch (err) {
      console.warn("catch-up read failed; will retry", err);
    }
  }

  _startPolling() {
    this._setMode("polling");
    const tick = async () => {
      const before = this.cursor;
      await this._catchUp();
      // Once the search is over and a poll found nothing new, there is nothing left to wait for.
      if (this.terminal && this.cursor === before) {
        this._setMode("stopped");
        return;
      }
      this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, POLL_MS);
  }

  /** The page tells the feed when the search reached a final status. */
  setTerminal(status) {
    this.terminal = TERMINAL.has(status);
  }
}
