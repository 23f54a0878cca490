"""Does the running ``--model auto`` keep its budget? Step down under a CPU hog, step back up without it.

Starts ``vcam-sharpen start`` (private runtime folder, ``--model auto``), waits for it to settle, then starts
a busy loop pinned to one core (a separate process), and polls what ``vcam-sharpen status --json`` shows
(:func:`vcam_sharpen.daemon.lifecycle.status`, in this process) every half second: the time until ``auto``
steps down, and whether the kept rate (fresh frames published per second, the autoscaler's window) returns
to at least MIN_FPS. Then kills the hog and reports the time until it
steps back up. Prints one line per poll with ``-v``, a summary (with the load average: the machine may be
shared) and a JSON line; stops the daemon. Not a test: the figures depend on the machine.

    python scripts/measure_autoscale.py -- --source ../shared/data/video/face_1280x720.mp4 --output null
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

from vcam_sharpen.daemon import lifecycle
from vcam_sharpen.daemon.autoscale import machine_idle_s


def vcam(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vcam_sharpen", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def hog(core: int | None) -> None:
    """A busy loop (on one core when the system lets us pin it)."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {core})
        except OSError:
            pass
    while True:
        pass


def status(env) -> dict:
    """What ``vcam-sharpen status --json`` prints (the same function, called in this process: a new Python
    per poll takes seconds on a loaded machine, longer than the figures it waits for)."""
    os.environ.update(env)
    return lifecycle.status()


def auto_of(st: dict) -> dict:
    return st.get("auto") or {}


def watch(env, seconds: float, until, verbose: bool, t0: float) -> tuple[float | None, list]:
    """Poll until ``until(state)`` or ``seconds``; returns (seconds since t0 when it held, the polls). Each poll
    also says how many cores the machine left idle since the last one (``free``)."""
    polls = []
    end = time.monotonic() + seconds
    last = (time.monotonic(), machine_idle_s())
    while time.monotonic() < end:
        st = status(env)
        a = auto_of(st)
        now = (time.monotonic(), machine_idle_s())
        free = None if None in (now[1], last[1]) else round((now[1] - last[1]) / max(now[0] - last[0], 1e-3), 2)
        last = now
        row = {"t": round(time.monotonic() - t0, 2), "model": a.get("model"), "reason": a.get("reason"),
               "cpu": a.get("cpu_cores_window"), "fps_kept": a.get("fps_kept_window"), "fps_out": st.get("fps_out"),
               "free": free}
        polls.append(row)
        if verbose:
            print(json.dumps(row), flush=True)
        if until(a):
            return row["t"], polls
        time.sleep(0.5)
    return None, polls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settle", type=float, default=20.0, help="seconds to let the daemon settle before the hog")
    ap.add_argument("--hog-seconds", type=float, default=40.0, help="longest wait for the step down and the rate")
    ap.add_argument("--up-seconds", type=float, default=60.0, help="longest wait for the step back up")
    ap.add_argument("--core", type=int, default=0, help="the core the (first) hog is pinned to")
    ap.add_argument("--hogs", type=int, default=1, help="busy loops, pinned to cores core, core+1, ... (2 on a "
                    "2-core machine leave no core free: a daemon that fits on the free core never needs to step)")
    ap.add_argument("--min-fps", type=float, default=29.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("daemon_args", nargs="*", help="after --: extra arguments for vcam-sharpen start")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_RUNTIME_DIR": tmp, "XDG_CONFIG_HOME": tmp}
        os.chmod(tmp, 0o700)
        r = vcam("start", "--model", "auto", *(args.daemon_args or ["--output", "null"]), env=env)
        if r.returncode != 0:
            print(r.stderr.strip() or r.stdout.strip(), file=sys.stderr)
            return 2
        procs: list = []
        try:
            t0 = time.monotonic()
            _, polls = watch(env, args.settle, lambda a: False, args.verbose, t0)
            start_model = auto_of(status(env)).get("model")
            if not start_model:
                print("the daemon does not scale (a ladder of one rung, or not --model auto)", file=sys.stderr)
                return 2
            load_before = os.getloadavg()
            ncpu = os.cpu_count() or 1
            procs = [multiprocessing.Process(target=hog, args=((args.core + i) % ncpu,), daemon=True)
                     for i in range(max(1, args.hogs))]
            t_hog = time.monotonic()
            for proc in procs:
                proc.start()
            down_t, polls_hog = watch(env, args.hog_seconds, lambda a: a.get("model") != start_model,
                                      args.verbose, t_hog)
            low_model = auto_of(status(env)).get("model")
            # then: the kept rate back at MIN_FPS (the autoscaler's window, on the cheaper model)
            rate_t, polls_rate = watch(env, args.hog_seconds, lambda a: (a.get("fps_kept_window") or 0) >= args.min_fps
                                       and a.get("model") != start_model, args.verbose, t_hog)
            load_hog = os.getloadavg()
            for proc in procs:
                proc.kill()
                proc.join()
            procs = []
            t_free = time.monotonic()
            up_t, polls_up = watch(env, args.up_seconds, lambda a: a.get("model") == start_model, args.verbose,
                                   t_free)
            final = status(env)
        finally:
            for proc in procs:
                proc.kill()
            vcam("stop", env=env)
    result = {"start_model": start_model, "stepped_down_s": down_t, "down_to": low_model,
              "fps_kept_29_after_s": rate_t, "hogs": args.hogs, "stepped_up_s": up_t, "final_model": auto_of(final).get("model"),
              "final_reason": auto_of(final).get("reason"), "loadavg_before_hog": load_before,
              "loadavg_under_hog": load_hog, "loadavg_end": os.getloadavg(), "cpus": os.cpu_count()}
    print(f"started on {start_model}; under {args.hogs} one-core hog(s): stepped down to {low_model} after "
          f"{down_t if down_t is not None else '> %g' % args.hog_seconds} s (target 5), kept >= {args.min_fps:g} fps "
          f"after {rate_t if rate_t is not None else 'never within %g' % args.hog_seconds} s; hog killed: back on "
          f"{start_model} after {up_t if up_t is not None else '> %g' % args.up_seconds} s (target 30); "
          f"load average {load_before[0]:.1f} before, {load_hog[0]:.1f} under the hog ({os.cpu_count()} CPUs)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
