// Entry point of the visit record panel. The panel may sit on its own page or beside the
// video on the call page; every instance reads its visit from its root's data attributes.
import { initNote } from "./record-note.js";
import { initMeds } from "./record-meds.js";
import { initOrders } from "./record-orders.js";

for (const root of document.querySelectorAll("[data-record-panel]")) {
  if (root.dataset.ready) continue;
  root.dataset.ready = "true";
  initNote(root);
  initMeds(root);
  initOrders(root);
}
