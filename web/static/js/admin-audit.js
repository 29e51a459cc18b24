// The audit log's times, shown in the reader's own time zone (the page is rendered in UTC).
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const format = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric",
  hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
for (const node of document.querySelectorAll("#audit-entries time[datetime]")) {
  const when = new Date(node.getAttribute("datetime"));
  if (!Number.isNaN(when.getTime())) {
    node.title = node.textContent;
    node.textContent = format.format(when);
  }
}
const label = document.querySelector("[data-zone-label]");
if (label && zone) label.textContent = `times in your time zone, ${zone}`;
