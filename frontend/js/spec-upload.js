// Paste or upload a spec (YAML or JSON) to fill the new-search form. The server reads the text exactly
// as `nasboard submit` reads a spec file (POST /api/spec/parse): nothing is evaluated here, and a YAML
// quirk behaves the same in both. A syntax error is shown with its line and column, and selected.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { serverText } from "./server-text.js";

/** The character offset of a 1-based line and column in `text`. */
function offsetOf(text, line, column) {
  let at = 0;
  for (let i = 1; i < line; i++) {
    const next = text.indexOf("\n", at);
    if (next < 0) return text.length;
    at = next + 1;
  }
  return Math.min(text.length, at + column - 1);
}

/**
 * Wire the paste box: `els` = {text, load, file, error} elements; `onSpec(spec)` receives a parsed
 * mapping (not yet validated: the form shows what it holds, the submit validates it).
 */
export function mountSpecUpload(els, onSpec) {
  const showProblem = (problem) => {
    const where = problem.line ? t("upload.at", { line: problem.line, column: problem.column }) : "";
    els.error.textContent = `${where}${serverText(problem.message)}`;
    if (problem.line) {
      const at = offsetOf(els.text.value, problem.line, problem.column);
      els.text.focus();
      els.text.setSelectionRange(at, Math.min(els.text.value.length, at + 1));
    }
  };
  const load = async () => {
    els.error.textContent = "";
    const text = els.text.value;
    if (!text.trim()) {
      els.error.textContent = t("upload.empty");
      return;
    }
    els.load.disabled = true;
    try {
      const answer = await api.parseSpec(text);
      if (answer.error) showProblem(answer.error);
      else onSpec(answer.spec);
    } catch (err) {
      els.error.textContent = t("upload.failed", { error: err.message });
    } finally {
      els.load.disabled = false;
    }
  };
  const readFile = async (file) => {
    if (!file) return;
    els.text.value = await file.text();
    await load();
  };
  els.load.addEventListener("click", load);
  els.file.addEventListener("change", () => readFile(els.file.files[0]).finally(() => (els.file.value = "")));
  els.text.addEventListener("dragover", (ev) => ev.preventDefault());
  els.text.addEventListener("drop", (ev) => {
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (!file) return;
    ev.preventDefault();
    readFile(file);
  });
}
