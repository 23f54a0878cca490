"use strict";
// The control panel: polls /api/status once a second, posts changes to /api/settings, Save to /api/save.
const token = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
let editing = false;      // the strength slider is being dragged: do not overwrite it from the status
let modelsShown = "";
// A control the user just changed keeps its value until the status agrees (the daemon writes its state once a
// second, so a poll right after a change can still carry the old value) or HOLD_MS have passed.
const HOLD_MS = 3000;
const held = {};

async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
                               body: JSON.stringify(body), credentials: "same-origin"});
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function show(name, now, apply) {
  // Sets a control from the status unless the user changed it moments ago and the status has not caught up.
  if (held[name] !== undefined && Date.now() < held[name].until && held[name].value !== now) return;
  delete held[name];
  apply();
}

async function change(body) {
  for (const [k, v] of Object.entries(body)) held[k] = {value: v, until: Date.now() + HOLD_MS};
  try {
    await post("/api/settings", body);
    say("");
  } catch (e) {
    say(e.message, true);
  }
}

function previews() {
  const view = $("zoom").checked ? "crop" : "fit";
  for (const side of ["before", "after"]) {
    $(side).src = `/api/preview/${side}.mjpg?view=${view}&t=${Date.now()}`;
  }
}

function ms(st, k) { return st.ms && st.ms[k] !== undefined ? st.ms[k].toFixed(1) : "-"; }

function figures(st) {
  const rows = [
    ["status", st.running === false ? "not running" : st.status],
    ["fps", `${(st.fps_out || 0).toFixed(1)} out (target ${st.fps_target}), ${(st.fps_processed || 0).toFixed(1)} processed`],
    ["ms/frame", `capture ${ms(st, "capture")}, prep ${ms(st, "prep")}, temporal ${ms(st, "temporal")}, inference ${ms(st, "inference")}, publish ${ms(st, "publish")}`],
    ["temporal", `${st.temporal || "off"} (${st.temporal_active ? "filtering" : "idle"}), ` +
      (st.noise ? `noise ${st.noise[0].toFixed(1)} luma / ${st.noise[1].toFixed(1)} chroma grey levels` : "noise not measured yet")],
    ["CPU", st.cpu_cores !== undefined && st.cpu_cores !== null ? `${st.cpu_cores.toFixed(2)} core` : "-"],
    ["model", `${st.model} (${st.engine})`],
    ["mode", st.mode],
    ["source", `${st.source_name || st.source} ${st.source_size || ""}`],
    ["outputs", `${(st.outputs || []).join(", ")} ${st.output_size || ""}`],
    ["paused", st.paused ? "yes (no app reads the virtual camera)" : "no"],
    ["readers", st.readers === null || st.readers === undefined ? "unknown" : String(st.readers)],
    ["frames", `${st.frames_out} out, ${st.dropped} dropped, ${st.repeated} repeated`],
    ["uptime", `${Math.round(st.uptime_s || 0)} s`],
  ];
  if (st.panel_error) rows.push(["last change", st.panel_error]);
  const body = $("figures").tBodies[0];
  body.replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    for (const text of [k, v]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }));
}

async function refresh() {
  let st;
  try {
    const r = await fetch("/api/status", {credentials: "same-origin"});
    st = await r.json();
  } catch (e) {
    $("state").textContent = "daemon unreachable";
    $("state").className = "pill down";
    return;
  }
  const pill = $("state");
  pill.textContent = st.rebuilding ? `changing model: ${st.rebuilding}` : st.status;
  pill.className = "pill " + (st.paused ? "paused" : st.status === "running" ? "running" : "");
  const p = st.panel || {};
  const s = p.settings || {};
  if (p.models && p.models.join() !== modelsShown) {
    modelsShown = p.models.join();
    $("model").replaceChildren(...p.models.map((m) => new Option(m, m)));
  }
  if (document.activeElement !== $("model")) show("model", s.model, () => { $("model").value = s.model; });
  if (document.activeElement !== $("mode")) show("mode", s.mode, () => { $("mode").value = s.mode; });
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
  figures(st);
}

let timer = null;
$("strength").addEventListener("input", () => {
  editing = true;
  const v = Number($("strength").value);
  $("strength-value").textContent = v.toFixed(2);
  clearTimeout(timer);
  timer = setTimeout(async () => { await change({strength: v}); editing = false; }, 120);
});
$("sharpening").addEventListener("change", () => change({sharpening: $("sharpening").checked}));
$("split").addEventListener("change", () => change({split: $("split").checked}));
$("model").addEventListener("change", () => change({model: $("model").value}));
$("temporal").addEventListener("change", () => change({temporal: $("temporal").value}));
$("mode").addEventListener("change", () => change({mode: $("mode").value}));
$("zoom").addEventListener("change", previews);
$("save").addEventListener("click", async () => {
  try {
    const r = await post("/api/save", {});
    say(`saved to ${r.path}`);
  } catch (e) {
    say(`not saved: ${e.message}`, true);
  }
});

previews();
refresh();
setInterval(refresh, 1000);
