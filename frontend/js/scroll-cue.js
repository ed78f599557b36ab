// A cue that a table scrolls sideways: a shadow on the edge with more columns and a short hint, on each
// `.table-wrap` of the page. One observer per wrapper, nothing per row, so big tables cost nothing more.

import { t } from "./i18n.js";

function update(wrap, hint) {
  const max = wrap.scrollWidth - wrap.clientWidth;
  const sides = [];
  if (max > 1 && wrap.scrollLeft > 1) sides.push("left");
  if (max > 1 && wrap.scrollLeft < max - 1) sides.push("right");
  wrap.dataset.scroll = sides.join(" ");
  hint.classList.toggle("hidden", max <= 1);
}

/** Watch every `.table-wrap` under `root`: its size, its table's size and its scroll position. */
export function watchTableScroll(root = document) {
  for (const wrap of root.querySelectorAll(".table-wrap")) {
    const hint = document.createElement("p");
    hint.className = "scroll-hint muted hidden";
    hint.textContent = t("table.scroll_hint");
    wrap.before(hint);
    const refresh = () => update(wrap, hint);
    wrap.addEventListener("scroll", refresh, { passive: true });
    const observer = new ResizeObserver(refresh);
    observer.observe(wrap);
    // The table is redrawn in place (innerHTML), so the element stays and its size change is seen.
    for (const table of wrap.querySelectorAll("table")) observer.observe(table);
    refresh();
  }
}
