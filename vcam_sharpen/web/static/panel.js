"use strict";
// The control panel: polls /api/status once a second, posts changes to /api/settings, Save to /api/save, and
// fetches the previews as single JPEGs (started after the page's load event, so the page always finishes loading).
const token = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const PREVIEW_MS = 250;   // a preview pair about four times a second while the camera runs
const HOLD_MS = 3000;     // a control the user just changed keeps its value until the status agrees, at most this
const MODE_HINTS = {
  degrade: "Halves the picture and restores it: shows what sharpening does for a poor link",
  upscale: "The camera sends half size; the model restores the full size",
  same: "Cleans and sharpens the picture at its own size",
};
const MODEL_HINTS = {
  auto: "The best model this computer runs in real time",
  none: "No sharpening model: the plain picture",
  unsharp: "Classic unsharp mask, no neural network",
  student: "Fast student network",
  "student-deep": "Deeper student: more detail, more CPU",
  "student-wide": "Wider student: the most detail, the most CPU",
  enhance: "Same-size student: sharpens and cleans",
  "enhance-lite": "Lighter same-size student: less CPU",
};
function modelHint(name) {
  if (MODEL_HINTS[name]) return MODEL_HINTS[name];
  if (name.startsWith("seed-")) return "The original full-resolution student (for comparison)";
  if (name.endsWith("-nokd")) return "Trained without distillation (for comparison)";
  if (name.endsWith("-clean")) return "Trained on clean pictures only (for comparison)";
  if (name.endsWith("-kd")) return "Trained with stronger distillation (for comparison)";
  return "";
}
const held = {};
let state = {};           // the last status, and whether the daemon answered it
let connected = null;     // true/false once known
let lastSeen = 0;
let editing = false;      // the strength slider is being dragged
let offered = {};         // mode -> models
let prevDropped = null;

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
                               body: JSON.stringify(body), credentials: "same-origin"});
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) throw Object.assign(new Error(data.error || r.statusText), {data});
  return data;
}

const NOTE_MS = 12000;     // a note (not an error) fades after this
function say(id, text, kind) {
  const m = $(id);
  if (!m) return;
  m.textContent = text || "";
  m.className = kind === "note" ? "field-msg note" : "field-msg";
  clearTimeout(m.fade);
  if (kind === "note") m.fade = setTimeout(() => { if (m.textContent === text) m.textContent = ""; }, NOTE_MS);
}

function show(name, now, apply) {
  // Sets a control from the status unless the user changed it moments ago and the status has not caught up.
  if (held[name] !== undefined && Date.now() < held[name].until && held[name].value !== now) return;
  delete held[name];
  apply();
}

async function change(body, field) {
  for (const [k, v] of Object.entries(body)) held[k] = {value: v, until: Date.now() + HOLD_MS};
  try {
    const r = await post("/api/settings", body);
    say(`msg-${field}`, "");
    if (r.note) say("msg-model", r.note, "note");
    if (r.model) {  // the model the change runs (a mode change may pick it): shown until the status has it
      held.model = {value: r.model, until: Date.now() + HOLD_MS * 10};
      fillModels($("mode").value, r.model);
    }
    if (field === "mode" && !r.note) say("msg-model", "");
  } catch (e) {
    for (const k of Object.keys(body)) delete held[k];
    say(`msg-${field}`, e.message);
    refresh();
  }
}

function fillModels(mode, chosen) {
  const names = offered[mode] || [];
  const sel = $("model");
  if (sel.dataset.list !== names.join() || sel.dataset.mode !== mode) {
    sel.replaceChildren(...names.map((m) => new Option(m, m)));
    sel.dataset.list = names.join();
    sel.dataset.mode = mode;
  }
  if (chosen && names.includes(chosen)) sel.value = chosen;
  $("model-hint").textContent = modelHint(sel.value);
  $("mode-hint").textContent = MODE_HINTS[mode] || "";
}

// ---- previews: one JPEG after another, only while frames come

function previewLoop(side) {
  // Two pictures per side: the next JPEG loads into the hidden one, which then takes the front (and the id), so a
  // picture never blanks while its successor loads.
  let front = $(side);
  let back = front.cloneNode(false);
  back.removeAttribute("id");
  back.className = "back";
  front.after(back);
  let timer = null;
  const next = (ms) => { clearTimeout(timer); timer = setTimeout(fetchOne, ms); };
  function fetchOne() {
    if (connected !== true || state.paused || document.hidden) return next(1000);
    const view = $("zoom").checked ? "crop" : "fit";
    back.src = `/api/preview/${side}.jpg?view=${view}&t=${Date.now()}`;
  }
  function loaded() {
    [front, back] = [back, front];
    back.removeAttribute("id");
    back.className = "back";
    front.id = side;
    front.className = "";
    front.dataset.ok = "1";
    cover();
    next(PREVIEW_MS);
  }
  for (const img of [front, back]) {
    img.addEventListener("load", () => { if (img === back) loaded(); });
    img.addEventListener("error", () => { if (img === back) next(1000); });  // no frame yet (503): soon again
  }
  $("zoom").addEventListener("change", () => next(0));
  fetchOne();
}

function cover() {
  const c = $("cover");
  let kind = null, title = "", text = "";
  if (connected === false) {
    kind = "down";
    title = "The daemon is not running";
    text = "Start it again with vcam-sharpen start --panel. The figures below are from its last update.";
  } else if (state.paused) {
    kind = "paused";
    title = "Paused: no app is using the camera";
    text = "The webcam is off to save power. The preview comes back when Zoom, Teams or Meet opens the virtual camera.";
  } else if (connected && !$("after").dataset.ok) {
    kind = "waiting";
    title = "Waiting for the first frame…";
  }
  c.hidden = kind === null;
  c.className = `cover ${kind || ""}`;
  $("cover-title").textContent = title;
  $("cover-text").textContent = text;
}

// ---- status rows

function num(v, digits = 1) { return typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–"; }
function first(st, keys) { for (const k of keys) if (st[k] !== undefined && st[k] !== null) return st[k]; return undefined; }
function duration(s) {
  s = Math.round(s || 0);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
function onOff(v) { return v === true ? "on" : v === false ? "off" : String(v); }

function rows(st) {
  const out = [];
  const add = (k, v, sub, cls) => out.push([k, v, sub, cls]);
  const model = String(st.model || "–");
  const auto = model.match(/^(.*?) \(auto: (.*)\)$/);
  add("Model", auto ? auto[1] : model, auto ? "chosen by auto" : "");
  const reason = first(st, ["auto_reason"]) || (auto ? auto[2] : undefined);
  if (reason) add("Why this model", String(reason));
  if (st.engine) add("Engine", String(st.engine).replace(/^\S+ on /, ""));
  const p = st.panel || {};
  const mode = p.settings && p.mode_labels ? p.mode_labels[p.settings.mode] : undefined;
  add("Mode", mode ? mode[0].toUpperCase() + mode.slice(1) : st.mode || "–", st.split ? "split view" : "");
  const fps = `${num(st.fps_out)} fps`;
  add("Frame rate", fps, `target ${num(st.fps_target, 0)} fps, ${num(st.fps_processed)} sharpened`);
  if (typeof st.source_fps === "number" && st.source_fps > 0) {
    const extra = st.fps_target && st.source_fps > st.fps_target + 0.5;
    add("Camera", `${num(st.source_fps, 0)} fps ${st.source_size || ""}`,
        extra ? `output takes ${num(st.fps_target, 0)} of them, the rest are skipped` :
        dropRate ? `${num(dropRate, 0)} frames/s not used (the computer is busy)` : "");
  }
  const m = st.ms || {};
  const total = Object.values(m).reduce((a, v) => a + (typeof v === "number" ? v : 0), 0);
  add("Time per frame", `${num(m.inference)} ms model`, `${num(total)} ms in all`);
  if (typeof st.cpu_cores === "number") add("CPU", `${num(st.cpu_cores, 2)} cores`);
  if ("noise" in st) {  // the temporal stage's estimate: [luma, chroma] grey levels, null until measured
    const n = st.noise;
    add("Noise estimate", Array.isArray(n) ? `${num(n[0])} luma, ${num(n[1])} chroma` : n === null ? "not measured yet"
        : String(n), Array.isArray(n) ? "grey levels" : "");
  }
  const na = st.noise_aware;  // the noise-aware choice between a clean- and a noise-trained model
  if (na && na.models) {
    const level = typeof na.noise === "number" ? `noise ${num(na.noise)}` : "noise not measured yet";
    add("Noise-aware choice", String(na.model), na.fading ? `fading (${Math.round(na.mix * 100)} % ${na.models.noisy})`
        : `${na.choice} camera, ${level}; clean below ${na.thresholds.clean_below}, noisy above ${na.thresholds.noisy_above}`);
  }
  if ("temporal_active" in st) {
    add("Temporal filter", st.temporal_active ? "filtering" : "idle", st.temporal ? `setting: ${st.temporal}` : "");
  }
  if (typeof st.tiles_processed === "number") {
    add("Unchanged regions", `${Math.round((1 - st.tiles_processed) * 100)} % reused`,
        `${Math.round(st.tiles_processed * 100)} % of the picture restored`);
  }
  add("Source", st.source_name || st.source || "–", st.source_size || "");
  add("Outputs", (st.outputs || []).join(", ") || "–", st.output_size || "");
  const readers = st.readers === null || st.readers === undefined ? "unknown" : String(st.readers);
  add("Apps using it", st.paused ? "none (paused)" : readers);
  add("Uptime", duration(st.uptime_s));
  if (st.panel_error) add("Last change", st.panel_error, "", "alert");
  return out;
}

let dropRate = null;

function figures(st) {
  $("figures").replaceChildren(...rows(st).flatMap(([k, v, sub, cls]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    if (cls) dd.className = cls;
    if (sub) {
      const s = document.createElement("span");
      s.className = "sub";
      s.textContent = sub;
      dd.appendChild(s);
    }
    dd.title = dd.textContent;
    return [dt, dd];
  }));
}

// ---- polling

function badge(text, kind) {
  $("state").textContent = text;
  $("state").className = `badge ${kind}`;
}

function stopped() {
  if (connected === true || connected === null) {
    connected = false;
    document.body.className = "stopped";
    for (const el of document.querySelectorAll("input, select, button")) el.disabled = true;
    badge("Stopped", "down");
    cover();
  }
  const ago = lastSeen ? Math.round((Date.now() - lastSeen) / 1000) : null;
  $("stale").hidden = ago === null;
  $("stale").textContent = ago === null ? "" : `last update ${ago} s ago`;
}

async function refresh() {
  let st;
  try {
    const r = await fetch("/api/status", {credentials: "same-origin"});
    if (!r.ok) throw new Error(r.statusText);
    st = await r.json();
    if (st.running === false) throw new Error("not running");
  } catch (e) {
    stopped();
    return;
  }
  if (connected === false) { location.reload(); return; }  // a new daemon: a new page (and token)
  connected = true;
  lastSeen = Date.now();
  document.body.className = st.paused ? "paused" : "running";
  if (prevDropped !== null && typeof st.dropped === "number") dropRate = Math.max(0, st.dropped - prevDropped);
  prevDropped = typeof st.dropped === "number" ? st.dropped : null;
  state = st;
  if (st.rebuilding) badge("Changing model…", "busy");
  else if (st.paused) badge("Paused", "paused");
  else if (st.status === "running") badge("Running", "running");
  else badge(String(st.status || "unknown"), "busy");
  const p = st.panel || {};
  const s = p.settings || {};
  offered = p.models || offered;
  if (document.activeElement !== $("mode")) show("mode", s.mode, () => { $("mode").value = s.mode; });
  if (document.activeElement !== $("model")) {
    show("model", s.model, () => fillModels($("mode").value, s.model));
  }
  fillModels($("mode").value, held.model ? held.model.value : undefined);
  show("sharpening", !!st.sharpening, () => { $("sharpening").checked = !!st.sharpening; });
  show("split", !!st.split, () => { $("split").checked = !!st.split; });
  if (document.activeElement !== $("temporal") && st.temporal) {
    show("temporal", st.temporal, () => { $("temporal").value = st.temporal; });
  }
  if (!editing) {
    show("strength", st.strength, () => {
      $("strength").value = st.strength;
      $("strength-value").textContent = Number(st.strength).toFixed(2);
    });
  }
  if (st.temporal !== undefined) {
    const t = st.temporal === true ? "on" : st.temporal === false ? "off" : String(st.temporal);
    show("temporal", t, () => { $("temporal").value = t; });
  }
  if (st.skip_static !== undefined) {
    show("skip_static", !!st.skip_static, () => { $("skip_static").checked = !!st.skip_static; });
  }
  $("divider").hidden = !$("split").checked;
  $("stale").hidden = true;
  figures(st);
  cover();
}

// ---- controls

let timer = null;
$("strength").addEventListener("input", () => {
  editing = true;
  const v = Number($("strength").value);
  $("strength-value").textContent = v.toFixed(2);
  clearTimeout(timer);
  timer = setTimeout(async () => { await change({strength: v}, "strength"); editing = false; }, 120);
});
$("sharpening").addEventListener("change", () => change({sharpening: $("sharpening").checked}, "sharpening"));
$("split").addEventListener("change", () => {
  $("divider").hidden = !$("split").checked;
  change({split: $("split").checked}, "split");
});
$("model").addEventListener("change", () => {
  $("model-hint").textContent = modelHint($("model").value);
  change({model: $("model").value}, "model");
});
$("mode").addEventListener("change", () => {
  const mode = $("mode").value;
  const current = $("model").value;
  const names = offered[mode] || [];
  // the model list follows the mode at once; the server picks the mode's default when the model does not fit it
  const defaults = (state.panel && state.panel.defaults) || {};
  fillModels(mode, names.includes(current) ? current : defaults[mode] || names[0]);
  change({mode}, "mode");
});
$("temporal").addEventListener("change", () => change({temporal: $("temporal").value}, "temporal"));
$("skip_static").addEventListener("change", () => change({skip_static: $("skip_static").checked}, "skip_static"));
$("save").addEventListener("click", async () => {
  const m = $("message");
  try {
    const r = await post("/api/save", {});
    m.textContent = `Saved to ${r.path}`;
    m.className = "";
  } catch (e) {
    m.textContent = `Not saved: ${e.message}`;
    m.className = "error";
  }
});

refresh();
setInterval(refresh, 1000);
window.addEventListener("load", () => { previewLoop("before"); previewLoop("after"); });
