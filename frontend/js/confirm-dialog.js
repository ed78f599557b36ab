// A yes/no question before an action that cannot be undone (cancel, delete): a modal <dialog> in the
// page's language and style, instead of the browser's confirm(), whose buttons and title it cannot word.

import { esc } from "./format.js";
import { t } from "./i18n.js";

/** Resolves true when the user confirms, false when they go back (button, Esc or closing the dialog). */
export function confirmAction({ title, message, confirm }) {
  return new Promise((resolve) => {
    const dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    dialog.className = "token-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
    dialog.innerHTML = `<form method="dialog">
      <h2 id="confirm-dialog-title">${esc(title)}</h2><p></p>
      <div class="actions"><button value="back" autofocus>${esc(t("confirm.back"))}</button>
      <button class="danger" value="ok">${esc(confirm)}</button></div></form>`;
    dialog.querySelector("p").textContent = message;
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
