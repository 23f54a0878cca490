"use strict";
// The MOS study: one session (an anonymous rater cookie), every stimulus once, in this rater's own order.
const token = document.querySelector('meta[name="csrf-token"]').content;
const base = document.querySelector('meta[name="api-base"]').content;
const $ = (id) => document.getElementById(id);
let queue = [];
let total = 0;
let done = 0;

async function post(path, body) {
  const r = await fetch(base + path, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": token}, body: JSON.stringify(body)});
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function show() {
  if (!queue.length) {
    $("trial").hidden = true;
    $("done").hidden = false;
    $("summary").textContent = `All ${total} pictures are rated. You can close this page.`;
    return;
  }
  $("progress").textContent = `Picture ${done + 1} of ${total}`;
  for (const r of document.querySelectorAll('input[name="score"]')) r.checked = false;
  $("next").disabled = true;
  $("stimulus").src = `${base}stimulus/${queue[0]}.png`;
}

$("start").addEventListener("click", async () => {
  try {
    const s = await post("api/session", {});
    queue = s.queue;
    total = s.total;
    done = s.done;
    $("intro").hidden = true;
    $("trial").hidden = false;
    show();
  } catch (e) {
    $("start").insertAdjacentText("afterend", ` ${e.message}`);
  }
});

for (const r of document.querySelectorAll('input[name="score"]')) {
  r.addEventListener("change", () => { $("next").disabled = false; });
}

$("next").addEventListener("click", async () => {
  const chosen = document.querySelector('input[name="score"]:checked');
  if (!chosen) return;
  $("next").disabled = true;
  try {
    const r = await post("api/rate", {stimulus: queue[0], score: Number(chosen.value)});
    done = r.done;
    queue.shift();
    $("message").textContent = "";
    show();
  } catch (e) {
    if (e.message.includes("already rated")) {  // rated in another tab: go on
      queue.shift();
      show();
      return;
    }
    $("message").textContent = e.message;
    $("next").disabled = false;
  }
});
