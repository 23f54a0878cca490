"""All terminal text: tables (fixed-width and markdown), status, doctor checks, device lists, settings.

The library returns data (dicts, dataclasses); only this module turns it into text, with
one table formatter (:func:`markdown` and :func:`fixed`) for every table.
"""

from __future__ import annotations

from ..core.paths import config_path, runtime_dir
from ..pipeline.stats import STAGES


def markdown(head: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """A GitHub markdown table; columns in ``right`` are right-aligned."""
    rule = "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"
    return "\n".join(["| " + " | ".join(head) + " |", rule] + ["| " + " | ".join(r) + " |" for r in rows])


def fixed(columns: list[tuple[str, int]], rows: list[list[str]]) -> str:
    """A fixed-width table: ``columns`` are ``(title, width)``, negative width = left-aligned. The width is the
    least a column gets: a longer title or cell widens its column, so cells are never cut or run together."""
    widths = [max(abs(w), len(t), *(len(str(r[i])) for r in rows if i < len(r))) * (-1 if w < 0 else 1)
              for i, (t, w) in enumerate(columns)]

    def line(cells):
        return " ".join(f"{c:<{-w}}" if w < 0 else f"{c:>{w}}" for c, w in zip(cells, widths)).rstrip()

    head = line([t for t, _ in columns])
    return "\n".join([head, "-" * len(head)] + [line(r) for r in rows])


# --------------------------------------------------------------------------- eval and models


def _eval_cells(r: dict) -> tuple[str, str]:
    return (f"{r['params']:,}" if "params" in r else "-", f"{r['gmac_720p']:.3f}" if "gmac_720p" in r else "-")


def _eval_blocks(rows: list[dict]) -> list[tuple[str | None, list[dict]]]:
    """Rows grouped by ``condition`` in order of appearance; one ``(None, rows)`` block without conditions.
    Same-size rows (``eval --degradation soft``) are headed ``same size, CONDITION``."""
    blocks: list[tuple[str | None, list[dict]]] = []
    for r in rows:
        cond = r.get("condition")
        if cond is not None and r.get("degradation") == "soft":
            cond = f"same size, {cond}"
        if not blocks or blocks[-1][0] != cond:
            blocks.append((cond, []))
        blocks[-1][1].append(r)
    return blocks or [(None, [])]


def eval_table(rows: list[dict]) -> str:
    """Fixed-width eval table; rows with a ``condition`` (``eval --corrupt``) get one block per condition."""
    if rows and "flicker" in rows[0]:
        return _sequence_text(rows, md=False)
    cols = [("method", -12), ("SSIM", 7), ("PSNR", 7), ("params", 8), ("GMAC/720p", 10), ("images", 7)]
    parts = []
    for cond, block in _eval_blocks(rows):
        table = fixed(cols, [[r["label"], f"{r['ssim']:.4f}", f"{r['psnr']:.2f}", *_eval_cells(r), str(r["n"])]
                             for r in block])
        parts.append(table if cond is None else f"condition: {cond}\n{table}")
    return "\n\n".join(parts)


def eval_markdown(rows: list[dict]) -> str:
    """The eval table as GitHub markdown (what the README shows); with conditions, each block is headed by a
    ``**condition: SPEC**`` line."""
    if rows and "flicker" in rows[0]:
        return _sequence_text(rows, md=True)
    head = ["method", "SSIM", "PSNR (dB)", "params", "GMAC/720p", "images"]
    parts = []
    for cond, block in _eval_blocks(rows):
        table = markdown(head, [[r["label"], f"{r['ssim']:.4f}", f"{r['psnr']:.2f}", *_eval_cells(r),
                                 f"{r['n']:,}"] for r in block], right={1, 2, 3, 4, 5})
        parts.append(table if cond is None else f"**condition: {cond}**\n\n{table}")
    return "\n\n".join(parts)


def _sequence_text(rows: list[dict], md: bool) -> str:
    """``eval --consecutive`` rows: model and temporal stage per row, flicker, a peer's CPU ms per frame."""
    head = ["method", "model", "temporal", "SSIM", "PSNR (dB)", "flicker", "CPU ms/frame", "frames"]
    parts = []
    for cond, block in _eval_blocks(rows):
        cells = [[r["label"], str(r.get("model") or r.get("filter", "-")), r.get("temporal", "-"), f"{r['ssim']:.4f}",
                  f"{r['psnr']:.2f}", f"{r['flicker']:.2f}", f"{r['ms']:.1f}" if "ms" in r else "-", str(r["n"])]
                 for r in block]
        if md:
            table = markdown(head, cells, right={3, 4, 5, 6, 7})
        else:
            widths = [-12, -24, -9, 7, 10, 8, 13, 7]
            table = fixed(list(zip(head, widths)), cells)
        title = cond if cond is None else (f"**condition: {cond}**" if md else f"condition: {cond}")
        parts.append(table if cond is None else f"{title}\n\n{table}" if md else f"{title}\n{table}")
    return "\n\n".join(parts)


def parse_eval_markdown(text: str) -> dict[str, float]:
    """``{label: ssim}`` from a table written by :func:`eval_markdown`."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].replace(".", "", 1).isdigit():
            out[cells[0]] = float(cells[1])
    return out


def models_table(rows: list[dict]) -> str:
    cols = [("model", -16), ("task", -10), ("params", 9), ("GMAC/720p", 10), ("description", -11)]
    return fixed(cols, [[r["name"], r.get("task", ""), f"{r['params']:,}", f"{r['gmac_720p']:.3f}",
                         " " + r["description"]] for r in rows])


def tags_table(rows: list[dict]) -> str:
    """The shipped weight tags: task, cost, recorded quality and auto's ladder."""
    def ssim(v):
        return f"{v:.4f}" if v is not None else "-"

    cols = [("weights", -24), ("architecture", -16), ("task", -10), ("GMAC/720p", 10), ("val SSIM", 9),
            ("corrupted", 10), ("auto", 5), ("description", -11)]
    body = [[r["name"], r["arch"], r["task"], f"{r['gmac_720p']:.3f}", ssim(r["val_ssim"]),
             ssim(r["val_ssim_corrupt"]), str(r["auto_rank"] + 1) if r["auto"] else "-", " " + r["description"]]
            for r in rows]
    return (fixed(cols, body) + "\nval SSIM: the validation SSIM each checkpoint records (corrupted: on inputs "
            "with its training corruption); auto: the rung on --model auto's ladder for the task (1 = tried first).")


# --------------------------------------------------------------------------- bench


def _bench_cells(r: dict) -> tuple[str, str, str]:
    """The GMAC, model fps and overhead cells of a row ('-' where it has none)."""
    return (f"{r['gmac_per_frame']:.2f}" if r.get("gmac_per_frame") else "-",
            f"{r['model_fps']:.1f}" if r["model_fps"] else "-",
            f"{r['overhead'] * 100:.0f}%" if r["overhead"] is not None else "-")


def _cores_cell(paced: dict | None) -> str:
    """The paced CPU cell: the median window and, where recorded, the lowest and highest window."""
    if not paced:
        return "-"
    spread = paced.get("cpu_cores_spread")
    return f"{paced['cpu_cores']:.2f}" + (f" ({spread[0]:.2f}-{spread[1]:.2f})" if spread else "")


def bench_markdown(report: dict) -> str:
    """The rows as GitHub markdown, one line per row (stage times p50 / p95 ms)."""
    head = ["size", "row", "GMAC", "fps", "model fps", "overhead", *STAGES, "CPU ms/frame", "latency p95 ms",
            "cores @30 fps, median (window spread) (kept fps; threads)", "tiles processed"]
    rows = []
    for r in report["rows"]:
        st = r["stages"]
        paced = r.get("paced")
        rows.append([report["size"], r["label"], *_bench_cells(r)[:1], f"{r['fps']:.1f}", *_bench_cells(r)[1:],
                     *(f"{st[k]['p50']:.1f} / {st[k]['p95']:.1f}" for k in STAGES),
                     f"{r['cpu_ms_per_frame']:.1f}", f"{r['latency_p95_ms']:.1f}",
                     f"{_cores_cell(paced)} ({paced['fps']:.1f} fps; {paced['threads'] or '-'} thr)" if paced else "-",
                     _tiles_cell(r)])
    return markdown(head, rows)


def _tiles_cell(r: dict) -> str:
    """The share of tiles restored (paced run when there is one): static-region reuse's work."""
    share = (r.get("paced") or r).get("tiles_processed")
    return f"{share * 100:.0f}%" if share is not None else "-"


def bench_table(report: dict) -> str:
    """The report as a fixed-width table (times in ms, p50/p95)."""
    m = report["machine"]
    title = (f"source {report['source']}  size {report['size']}  degrade {report['degrade']}  "
             f"temporal {report.get('temporal', 'off')}  "
             f"{m['cpus']} CPUs ({m['processor']})  load {m.get('loadavg_1m', '?')}")
    cols = [("row", -18), ("GMAC", 5), ("fps", 6), ("model", 6), ("ovh", 5), ("capture", 11), ("prep", 11),
            ("temporal", 10), ("inference", 13), ("publish", 9), ("cpu/fr", 7), ("lat95", 6),
            ("cores@30 (spread)", 18), ("tiles", 5)]
    rows = []
    for r in report["rows"]:
        st = r["stages"]
        gmac, model, ovh = _bench_cells(r)
        rows.append([r["label"], gmac, f"{r['fps']:.1f}", model, ovh,
                     *(f"{st[k]['p50']:.1f}/{st[k]['p95']:.1f}" for k in STAGES),
                     f"{r['cpu_ms_per_frame']:.1f}", f"{r['latency_p95_ms']:.1f}",
                     _cores_cell(r.get("paced")), _tiles_cell(r)])
    lines = [title, fixed(cols, rows)]
    lines.append("GMAC: conv multiply-accumulates per frame; fps: end-to-end; model: engine alone on the same "
                 "frames; ovh: 1 - fps/model; stage columns: p50/p95 ms (prep: the frame work around the "
                 "network); temporal: the temporal noise reduction; cpu/fr: process CPU ms per frame; "
                 "lat95: capture->publish p95 ms; cores@30: CPU cores used with a 30 fps source (median of "
                 "half-second windows; the lowest-highest window in brackets); tiles: share of tiles restored "
                 "(static-region reuse, --skip-static).")
    for r in report["rows"]:
        extra = [r["note"]] if r["note"] else []
        if "paced" in r and r["paced"]["fps"] < 0.95 * r["paced"]["fps_target"]:
            extra.append(f"kept only {r['paced']['fps']:.1f} of {r['paced']['fps_target']:g} fps")
        if extra:
            lines.append(f"  {r['label']}: " + "; ".join(extra))
    lines += [f"  {r['label']}: {r['engine']}" for r in report["rows"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- daemon


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _temporal(st: dict) -> str:
    """The temporal stage's line of ``status``: its mode, whether it filters now, the noise estimate."""
    noise = st.get("noise")
    est = (f"noise {noise[0]:.1f} luma / {noise[1]:.1f} chroma grey levels" if noise else "noise not measured yet")
    return f"{st.get('temporal', 'off')} ({'filtering' if st.get('temporal_active') else 'idle'}), {est}"


def _noise_aware(na: dict) -> str:
    """The noise-aware choice in ``status``: the model running, why, and a cross-fade in progress."""
    level = "noise not measured yet" if na.get("noise") is None else f"noise {na['noise']:.1f}"
    th = na.get("thresholds", {})
    fade = f", fading ({na.get('mix', 0) * 100:.0f}% {na['models']['noisy']})" if na.get("fading") else ""
    return (f"{na.get('model', '?')} ({na.get('choice', '?')} camera, {level}; clean below {th.get('clean_below', 0):g}, "
            f"noisy above {th.get('noisy_above', 0):g}){fade}")


def _skip_text(st: dict) -> str:
    """Static-region reuse in ``status``: on or off, and the share of tiles restored lately."""
    if "skip_static" not in st:
        return ""
    share = st.get("tiles_processed")
    if not st["skip_static"]:
        return ", skip static off"
    return ", skip static on" + (f" ({share * 100:.0f}% of tiles restored)" if share is not None else "")


def status_text(st: dict) -> str:
    """Human-readable ``status``."""
    if not st.get("running"):
        return "vcam-sharpen is not running"
    ms = st.get("ms", {})
    stages = ", ".join(f"{k} {ms[k]:.1f}" for k in STAGES if k in ms)
    lines = [
        f"vcam-sharpen is running (pid {st['pid']}): {st.get('status', '?')}, uptime {_duration(st.get('uptime_s', 0))}",
        f"  source:     {st.get('source_name', st.get('source', '?'))} {st.get('source_size', '')}"
        f" @ {st.get('source_fps', 0):g} fps",
        f"  model:      {st.get('model', '?')} ({st.get('engine', '?')}), {st.get('mode', '?')}, "
        f"sharpening {'on' if st.get('sharpening', True) else 'off'}, strength {st.get('strength', 1.0):g}"
        + _skip_text(st),
        f"  output:     {', '.join(st.get('outputs', []))} {st.get('output_size', '')}"
        + (f" on {st['device']}" if st.get("device") else "")
        + (f", {st['readers']} app(s) reading" if st.get("readers") is not None else ""),
        f"  fps:        {st.get('fps_out', 0):.1f} out (target {st.get('fps_target', 0):g}), "
        f"{st.get('fps_processed', 0):.1f} processed"
        + (f", CPU {st['cpu_cores']:.2f} core" if st.get("cpu_cores") is not None else ""),
        f"  ms/frame:   {stages or 'n/a'}",
        f"  temporal:   {_temporal(st)}",
        *([f"  choice:     {_noise_aware(st['noise_aware'])}"] if st.get("noise_aware") else []),
        f"  frames:     {st.get('frames_out', 0)} out, {st.get('frames_processed', 0)} processed, "
        f"{st.get('dropped', 0)} dropped, {st.get('repeated', 0)} repeated, {st.get('placeholders', 0)} placeholder",
    ]
    if st.get("rebuilding"):
        lines.append(f"  switching:  to {st['rebuilding']} (loading; the current model runs meanwhile)")
    elif st.get("rebuild_error"):
        lines.append(f"  last switch failed: {st['rebuild_error']}")
    auto = st.get("auto")
    if auto:
        free = (f" ({auto['free_cores_window']:.2f} core idle on the machine)"
                if auto.get("free_cores_window") is not None else "")
        window = (f", last {auto['cpu_cores_window']:.2f} core at {auto['fps_kept_window']:.1f} fps kept{free}"
                  if auto.get("cpu_cores_window") is not None else "")
        lines.append(f"  auto:       {auto['model']} of {' > '.join(auto['ladder'])}, budget {auto['budget']:g} core"
                     f"{window}, {auto['switches']} switch(es): {auto['reason']}")
    if st.get("panel_url"):
        lines.append(f"  panel:      {st['panel_url']}")
    return "\n".join(lines)


def _source_text(info: dict) -> str:
    name = info.get("source_name") or info.get("source", "?")
    if info.get("source_setting") == "auto":
        return "no camera found: playing the demo scene" if info.get("source") == "demo" \
            else f"{name} (the first camera)"
    return "the demo scene" if info.get("source") == "demo" else name


def _target_text(t: dict) -> str:
    if t.get("path"):
        return f"recording to {t['path']}"
    kind = {"vcam": "virtual camera", "pipewire": "PipeWire node", "preview": "preview window",
            "null": "nowhere (null)"}.get(t["name"], t["name"])
    return f"{kind} {t['device']}" if t.get("device") else kind


def summary_text(info: dict) -> str:
    """The one line ``run`` and ``start`` print at start: source, model (auto's choice and why), mode, outputs."""
    targets = info.get("targets") or [{"name": n} for n in info.get("outputs", [])]
    return (f"source: {_source_text(info)} | model: {info.get('model', '?')} | mode: {info.get('mode', '?')} | "
            f"output: {', '.join(_target_text(t) for t in targets) or 'none'}")


def probe_text(p, asked: int, timeout: float) -> str:
    """``vcam-sharpen probe``'s line: what a consumer of the node got (a :class:`~vcam_sharpen.io.pipewire_env.Probe`)."""
    rate = f"{p.measured_fps:.1f} fps" if p.measured_fps is not None else "? fps"
    offered = f" (the node offers {p.offered_fps:g} fps)" if p.offered_fps else ""
    short = f"; only {p.frames} of {asked} frames within {timeout:g} s" if p.timed_out else ""
    return (f"{p.node}: {p.frames} frames of {p.width}x{p.height} {p.format} at {rate}{offered}, the first after "
            f"{p.first_s:.2f} s{short}")


def set_text(name: str, state: dict) -> str:
    """What ``vcam-sharpen set`` confirms: the value the daemon now runs with."""
    if name in ("model", "mode"):
        return f"now: model {state.get('model', '?')}, mode {state.get('mode', '?')}"
    return f"{name} = {state.get(name)}"


def settings_text(settings_dict: dict, origin: dict) -> str:
    """The effective settings as TOML lines with their origin, for ``vcam-sharpen config``."""
    path = config_path()
    lines = [f"# config file: {path}" + ("" if path.is_file() else " (absent)"),
             f"# runtime dir: {runtime_dir()}"]
    for key, value in settings_dict.items():
        if value is None:
            lines.append(f"# {key} = (unset)")
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = f"{value:g}" if isinstance(value, float) else str(value)
        elif isinstance(value, list):
            text = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {text}  # {origin[key]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- doctor and devices


def checks_text(items: list) -> str:
    marks = {True: "[ok]", False: "[!!]", None: "[--]"}
    lines = []
    for c in items:
        lines.append(f"{marks[c.ok]} {c.title}: {c.detail}".rstrip(": "))
        if c.fix and c.ok is not True:
            for i, line in enumerate(c.fix.splitlines()):
                lines.append(f"     {'fix: ' if i == 0 else '     '}{line}")
    return "\n".join(lines)


def devices_text(d: dict) -> str:
    def entries(items, none):
        return [f"  {c['path']:14s} {c['name'] or '(unnamed)'}" + ("" if c["access"] else "  [no permission]")
                for c in items] or [none]

    lines = ["cameras (--source):", *entries(d["cameras"], "  none (use --source demo or a video file)"),
             "virtual cameras (--vcam-device):", *entries(d["virtual"], "  none (run vcam-sharpen doctor)"),
             "virtual camera backends (--backend): " + (", ".join(d["backends"]) or "none"),
             "PipeWire camera nodes (--output pipewire):",
             *([f"  {n['name']:14s} {n['description']}" for n in d.get("pipewire", [])]
               or ["  none (vcam-sharpen start --output pipewire makes one; see vcam-sharpen doctor)"])]
    return "\n".join(lines)
