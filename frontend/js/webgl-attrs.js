// WebGL canvases inside an element marked `data-gl-plain` are created without multisampling.
// plotly.js asks every WebGL canvas for MSAA. The scatter charts marked so draw round markers that their
// shader already smooths and axis-aligned step lines, so MSAA changes nothing visible there; but where
// the browser renders WebGL in software (no GPU), each frame of a multisampled canvas is resolved and read
// back pixel by pixel, and that made up a third of the time a 10,000-candidate search page took to draw.
// Parallel coordinates (diagonal lines) is not marked and keeps MSAA.

const getContext = HTMLCanvasElement.prototype.getContext;

HTMLCanvasElement.prototype.getContext = function (kind, attrs) {
  if (typeof kind === "string" && kind.includes("webgl") && this.closest("[data-gl-plain]")) {
    return getContext.call(this, kind, { ...(attrs || {}), antialias: false });
  }
  return getContext.call(this, kind, attrs);
};
