// IBTool's front end: lists complaints and records new ones through the REST API.
async function refresh() {
  const stats = await (await fetch("/api/stats")).json();
  document.getElementById("stats").textContent =
    `${stats.complaints} complaints recorded (API ${stats.version})`;
  const list = document.getElementById("list");
  list.replaceChildren();
  for (const c of await (await fetch("/api/complaints")).json()) {
    const item = document.createElement("li");
    item.textContent = `#${c.id} ${c.title} (${c.status})`;
    list.append(item);
  }
}
document.getElementById("new").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  await fetch("/api/complaints", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ title: form.get("title"), customer: form.get("customer") }),
  });
  event.target.reset();
  refresh();
});
refresh();
