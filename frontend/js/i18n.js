// The page's language (English or 简体中文) and its messages. The language comes from the switch the user
// last chose (localStorage), else from the browser; switching reloads the page, so every module reads
// the language once at load and can look up fixed labels up front instead of per row or per point.

import en from "../i18n/en.json" with { type: "json" };
import zh from "../i18n/zh.json" with { type: "json" };

const CATALOGUES = { en, "zh-CN": zh };
const STORE_KEY = "nasboard.lang";

function chooseLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORE_KEY);
  } catch {
    // storage blocked: fall back to the browser's language
  }
  if (saved && CATALOGUES[saved]) return saved;
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const lower = String(tag || "").toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export const lang = chooseLanguage();
const messages = CATALOGUES[lang];

/** The message `key` in the page's language, with `{name}` replaced by `params.name`. */
export function t(key, params) {
  const text = messages[key] ?? en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
}

/** Whether `key` has a message (for labels that fall back to a name the API sent). */
export function has(key) {
  return key in messages;
}

/** Translate the static page: text of `[data-i18n]`, and `data-i18n-{placeholder,title,aria-label}`. */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "title", "aria-label"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

function wireSwitch() {
  const select = document.getElementById("lang-switch");
  if (!select) return;
  select.value = lang;
  select.addEventListener("change", () => {
    try {
      localStorage.setItem(STORE_KEY, select.value);
    } catch {
      return; // nowhere to remember it: stay as we are
    }
    location.reload();
  });
}

document.documentElement.lang = lang;
translatePage();
wireSwitch();
