"use strict";
// The MOS study: one session (an anonymous rater cookie), every stimulus once, in this rater's own order.
// A picture is shown at 1:1 device pixels where it fits the stage, else the 1:1 crop `mos prepare` chose for it,
// else not at all (the rater is asked for a larger window): it is never rescaled.
const token = document.querySelector('meta[name="csrf-token"]').content;
const base = document.querySelector('meta[name="api-base"]').content;
const $ = (id) => document.getElementById(id);
let queue = [];
let sizes = {};
let total = 0;
let done = 0;
let busy = false;

async function post(path, body) {
  const r = await fetch(base + path, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": token}, body: JSON.stringify(body)});
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function fits(w, h) {
  const dpr = window.devicePixelRatio || 1;
  const r = $("stage").getBoundingClientRect();
  return w / dpr <= r.width && h / dpr <= r.height;
}

function place() {
  // What of the current stimulus fits at 1:1: the whole picture, its crop, or nothing.
  if (!queue.length) return;
  const id = queue[0];
  const [w, h, cw, ch] = sizes[id] || [];
  const dpr = window.devicePixelRatio || 1;
  const img = $("stimulus");
  let src = null, pw = w, ph = h;
  if (!w || fits(w, h)) src = `${base}stimulus/${id}.png`;
  else if (cw && fits(cw, ch)) { src = `${base}stimulus/${id}-crop.png`; pw = cw; ph = ch; }
  const small = src === null;
  $("too-small").hidden = !small;
  img.hidden = small;
  for (const r of document.querySelectorAll('input[name="score"]')) r.disabled = small;
  if (small) {
    const need = `${Math.ceil((cw || w) / dpr)} × ${Math.ceil((ch || h) / dpr)}`;
    $("too-small").textContent = `Please make the window larger (the picture needs ${need} pixels) or reset the ` +
      "page zoom: pictures are shown at their own size only.";
    $("next").disabled = true;
    return;
  }
  if (pw) {
    img.style.width = `${pw / dpr}px`;
    img.style.height = `${ph / dpr}px`;
  }
  if (img.getAttribute("src") !== src) img.src = src;
  $("next").disabled = !document.querySelector('input[name="score"]:checked');
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
  place();
}

function choose(score) {
  const r = document.querySelector(`input[name="score"][value="${score}"]`);
  if (!r || r.disabled) return;
  r.checked = true;
  $("next").disabled = false;
}

async function next() {
  const chosen = document.querySelector('input[name="score"]:checked');
  if (!chosen || busy) return;
  busy = true;
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
    } else {
      $("message").textContent = e.message;
      $("next").disabled = false;
    }
  } finally {
    busy = false;
  }
}

$("start").addEventListener("click", async () => {
  try {
    const s = await post("api/session", {});
    queue = s.queue;
    sizes = s.sizes || {};
    total = s.total;
    done = s.done;
    $("intro").hidden = true;
    $("trial").hidden = false;
    show();
  } catch (e) {
    $("start-error").textContent = e.message;
  }
});

for (const r of document.querySelectorAll('input[name="score"]')) {
  r.addEventListener("change", () => { $("next").disabled = false; });
}
$("next").addEventListener("click", next);
document.addEventListener("keydown", (e) => {
  if ($("trial").hidden || e.altKey || e.ctrlKey || e.metaKey) return;
  if (/^[1-5]$/.test(e.key)) {
    choose(e.key);
    e.preventDefault();
  } else if (e.key === "Enter" && !(e.target instanceof HTMLButtonElement)) {  // a focused button clicks itself
    next();
    e.preventDefault();
  }
});
window.addEventListener("resize", place);
