// A confirmation before a step that cannot be taken back: a modal <dialog>, so the browser
// keeps focus inside it and Escape answers "no". Focus starts on the safe choice and goes
// back to the control that opened it. `details` ([label, value] pairs) lets the reader check
// every part of what is about to happen (an order's review step).
let count = 0;

export function confirmAction({
  title, text, confirm, cancel = "Go back", danger = true, details = [],
}) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const id = `confirm-${++count}`;
    const dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", `${id}-title`);
    dialog.setAttribute("aria-describedby", `${id}-text`);
    const heading = document.createElement("h2");
    heading.id = `${id}-title`;
    heading.textContent = title;
    const body = document.createElement("p");
    body.id = `${id}-text`;
    body.textContent = text;
    const list = document.createElement("dl");
    list.className = "confirm-details";
    for (const [term, value] of details) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      list.append(dt, dd);
    }
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = danger ? "danger" : "primary";
    yes.textContent = confirm;
    const no = document.createElement("button");
    no.type = "button";
    no.textContent = cancel;
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(yes, no);
    dialog.append(heading, body, ...(details.length ? [list] : []), actions);
    document.body.append(dialog);
    let answer = false;
    yes.addEventListener("click", () => { answer = true; dialog.close(); });
    no.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(answer);
    });
    dialog.showModal();
    no.focus();
  });
}
