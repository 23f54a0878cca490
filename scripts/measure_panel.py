"""What watching the control panel costs the daemon: its rate and CPU with and without preview viewers.

Starts ``vcam-sharpen start --panel`` (private runtime folder), then alternates phases of SECONDS each:
no viewer, and VIEWERS browsers' worth of MJPEG streams (before and after each; with ``--poll``, what the
page does: one JPEG request per side, the next 250 ms after the last arrived), reading the daemon's
own figures (``fps_out``, ``fps_processed``, ``cpu_cores``, per-stage ms: the state file that ``status``
shows) and the preview thread's (pairs encoded, ms per pair, its CPU seconds). Prints one line per
phase and the medians; stops the daemon.

    python scripts/measure_panel.py --seconds 10 --rounds 3 -- --source ../shared/data/video/face_1280x720.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx


def vcam(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vcam_sharpen", *args], capture_output=True, text=True, env=env,
                          timeout=180)


def viewer(url: str, side: str, stop: threading.Event, got: list) -> None:
    with httpx.Client(timeout=10) as c, c.stream("GET", f"{url}api/preview/{side}.mjpg") as r:
        for chunk in r.iter_bytes():
            got[0] += len(chunk)
            if stop.is_set():
                return


def poller(url: str, side: str, stop: threading.Event, got: list) -> None:
    with httpx.Client(timeout=10) as c:
        while not stop.is_set():
            r = c.get(f"{url}api/preview/{side}.jpg", params={"view": "fit", "t": time.time()})
            if r.status_code == 200:
                got[0] += len(r.content)
            stop.wait(0.25)


def phase(url: str, env, seconds: float, viewers: int, poll: bool = False) -> dict:
    stop, got, threads = threading.Event(), [0], []
    for _ in range(viewers):
        for side in ("before", "after"):
            t = threading.Thread(target=poller if poll else viewer, args=(url, side, stop, got), daemon=True)
            t.start()
            threads.append(t)
    time.sleep(2.0)  # settle
    state = os.path.join(env["XDG_RUNTIME_DIR"], "vcam-sharpen", "state.json")  # what `status` reads
    samples, t0 = [], time.monotonic()
    prev = httpx.get(f"{url}api/status", timeout=10).json()["panel"]["preview"]
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        with open(state) as f:
            samples.append(json.load(f))
    last = httpx.get(f"{url}api/status", timeout=10).json()["panel"]["preview"]
    seconds = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(5)
    med = lambda key: statistics.median(s[key] for s in samples if s.get(key) is not None)  # noqa: E731
    return {"viewers": viewers, "fps_out": med("fps_out"), "fps_processed": med("fps_processed"),
            "cpu_cores": med("cpu_cores"), "inference_ms": statistics.median(s["ms"]["inference"] for s in samples),
            "prep_ms": statistics.median(s["ms"]["prep"] for s in samples),
            "preview_pairs_per_s": (last["encoded"] - prev["encoded"]) / seconds,
            "preview_ms_per_pair": last["encode_ms"],
            "preview_cores": (last["cpu_s"] - prev["cpu_s"]) / seconds, "preview_kbytes": got[0] // 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--viewers", type=int, default=1, help="browsers watching (each streams before and after)")
    ap.add_argument("--poll", action="store_true", help="viewers fetch single JPEGs, as the page does")
    ap.add_argument("start_args", nargs="*", help="more `vcam-sharpen start` options, after --")
    a = ap.parse_args()
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="measure-panel-")
    env["XDG_CONFIG_HOME"] = env["XDG_RUNTIME_DIR"]
    args = ["--source", "demo", "--output", "null", "--size", "1280x720", "--model", "student", *a.start_args,
            "--panel", "--panel-port", "0"]
    r = vcam("start", *args, env=env)
    if r.returncode:
        sys.exit(r.stderr)
    try:
        url = json.loads(vcam("status", "--json", env=env).stdout)["panel_url"]
        time.sleep(3)
        rows = []
        for _ in range(a.rounds):
            for viewers in (0, a.viewers):
                rows.append(phase(url, env, a.seconds, viewers, a.poll))
                print(json.dumps(rows[-1]), flush=True)
        for viewers in (0, a.viewers):
            sel = [r for r in rows if r["viewers"] == viewers]
            print(f"viewers {viewers}: " + ", ".join(f"{k} {statistics.median(r[k] for r in sel):.3f}"
                                                     for k in sel[0] if k != "viewers"))
    finally:
        vcam("stop", env=env)


if __name__ == "__main__":
    main()
