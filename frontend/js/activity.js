// The search page's activity panels: the worker timeline and the failures by reason. Both are summaries
// the server computes, fetched together after the page is interactive and then at most every few seconds
// while the search runs (slower when a fetch and draw take long), never as part of the live feed.

import { api } from "./api.js";
import { TimelineChart, workerSummaryHtml } from "./timeline-chart.js";
import { failuresHtml } from "./failures.js";

const MIN_REFRESH_MS = 5000;

/**
 * Start refreshing `#timeline-chart`, `#timeline-workers` and `#failures`. `isRunning()` says whether
 * the search can still change; once it cannot, one last refresh is made and the polling stops, to
 * start again if the search is resumed.
 */
export function startActivity({ searchId, isRunning, onSelect }) {
  const $ = (id) => document.getElementById(id);
  const chart = new TimelineChart($("timeline-chart"), { onSelect });
  let timer = null;
  let polling = false;

  async function refresh() {
    const started = performance.now();
    try {
      const [timeline, failures] = await Promise.all([api.timeline(searchId), api.failures(searchId)]);
      await chart.render(timeline);
      $("timeline-workers").innerHTML = workerSummaryHtml(timeline);
      $("failures").innerHTML = failuresHtml(failures);
    } catch (err) {
      console.warn("timeline or failures unavailable; retrying", err);
    }
    const spent = performance.now() - started;
    if (isRunning()) {
      timer = setTimeout(refresh, Math.max(MIN_REFRESH_MS, 10 * spent));
    } else {
      polling = false;
      timer = null;
    }
  }

  polling = true;
  refresh();
  // A paused search that is resumed (or a queued one that starts) polls again; this check is local.
  setInterval(() => {
    if (!polling && isRunning()) {
      polling = true;
      clearTimeout(timer);
      refresh();
    }
  }, 2000);
}
