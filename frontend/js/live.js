// Live updates for one search: the SSE stream first (the browser resends Last-Event-ID on reconnect),
// a catch-up read of `?after=` after every reconnect, and plain polling when the stream is unavailable.

import { api, readAllCandidates } from "./api.js";

const POLL_MS = 1000;
const STREAM_WAIT_MS = 5000; // a stream not (re)opened by then is given up for polling
const STREAM_RETRY_MS = 30000; // while polling, try the stream again this often
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
    this.polling = false;
    this.giveUp = null;
    this.retry = null;
  }

  start() {
    if (typeof EventSource === "function") this._openStream();
    else this._startPolling();
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    this._stopPolling();
    this._disarmGiveUp();
    clearTimeout(this.retry);
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
    this._armGiveUp();
    es.addEventListener("open", () => {
      this._disarmGiveUp();
      this._stopPolling();
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
        this._fallBack();
      } else {
        this._setMode("reconnecting");
        this._armGiveUp();
      }
    });
  }

  /** Give the browser's own reconnects a few seconds; then poll, and try the stream again later. */
  _armGiveUp() {
    if (this.giveUp) return; // counted from the first failure, not reset by each retry
    this.giveUp = setTimeout(() => {
      this.giveUp = null;
      if (this.source && this.source.readyState !== EventSource.OPEN) this._fallBack();
    }, STREAM_WAIT_MS);
  }

  _disarmGiveUp() {
    clearTimeout(this.giveUp);
    this.giveUp = null;
  }

  _fallBack() {
    this._disarmGiveUp();
    if (this.source) this.source.close();
    this.source = null;
    this.hadError = true;
    if (this.terminal) {
      this._setMode("stopped");
      return;
    }
    this._startPolling();
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this._openStream(), STREAM_RETRY_MS);
  }

  _stopPolling() {
    clearTimeout(this.timer);
    this.timer = null;
    this.polling = false;
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
    if (this.polling) return;
    this.polling = true;
    this._setMode("polling");
    const tick = async () => {
      if (!this.polling) return;
      const before = this.cursor;
      await this._catchUp();
      // Once the search is over and a poll found nothing new, there is nothing left to wait for.
      if (this.terminal && this.cursor === before) {
        this._stopPolling();
        clearTimeout(this.retry);
        this._setMode("stopped");
        return;
      }
      if (this.polling) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, POLL_MS);
  }

  /** The page tells the feed when the search reached a final status. */
  setTerminal(status) {
    this.terminal = TERMINAL.has(status);
  }
}
