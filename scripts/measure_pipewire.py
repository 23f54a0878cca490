"""Measure the PipeWire output: CPU per frame and publish-to-consumer latency.

    python scripts/measure_pipewire.py [--size 1280x720] [--fps 30] [--seconds 10]
                                       [--pixel-format I420|BGR] [--current-session]

Runs a private PipeWire session (tests/pipewire_session.py) unless --current-session.
Phase 1 publishes with no consumer, phase 2 with one GStreamer consumer
(pipewiresrc -> I420 -> fdsink) read by a child Python process that decodes a
16-bit frame counter drawn into each picture and notes CLOCK_MONOTONIC on arrival;
latency = arrival - the moment the daemon called send().  CPU is counted for the
Python side (main + writer + readers() poller thread; includes the BGR->I420
conversion), the gst-launch producer, and pw-link children of readers().
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the private-session helper
BITS, BW, BH = 16, 64, 32          # counter: 16 blocks of 64x32 px, black/white, top-left
TICK = os.sysconf("SC_CLK_TCK")
counter = 0                        # global across phases, so stale pictures never match


def proc_cpu(pid):
    """utime+stime of a process, seconds (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def draw_counter(img, n):
    for b in range(BITS):
        img[0:BH, b * BW:(b + 1) * BW] = 255 if (n >> b) & 1 else 0


def consumer_main(w, h, fmt, out_path):
    """Child: read raw frames from gst-launch on stdin, log (counter, t_arrival)."""
    size = w * h * 3 // (2 if fmt == "I420" else 1)
    row = w if fmt == "I420" else 3 * w          # Y plane, or the B bytes of BGR
    stdin = sys.stdin.buffer
    with open(out_path, "w") as log:
        while True:
            buf = stdin.read(size)
            t = time.monotonic()
            if len(buf) < size:
                return
            y = np.frombuffer(buf, np.uint8, row * BH).reshape(BH, row)[:, ::row // w]
            bits = [y[BH // 2, b * BW + BW // 2] > 128 for b in range(BITS)]
            log.write(f"{sum(1 << b for b, on in enumerate(bits) if on)} {t:.6f}\n")
            log.flush()


def run_phase(sink, args, base, seconds, consumer_env=None, tmp=None):
    w, h = args.size
    cons = reader = None
    if consumer_env is not None:
        out_path, err_path = os.path.join(tmp, "arrivals.txt"), os.path.join(tmp, "consumer.err")
        fmt = sink.pixel_format
        with open(err_path, "wb") as err:
            gst = subprocess.Popen(["gst-launch-1.0", "-q", "--no-fault", "pipewiresrc",
                                    f"target-object={sink.device}", "!",
                                    f"video/x-raw,format={fmt},width={w},height={h}", "!", "fdsink", "fd=1",
                                    "sync=false"], env=consumer_env, stdout=subprocess.PIPE,
                                   stderr=err, start_new_session=True)
        reader = subprocess.Popen([sys.executable, __file__, "--consumer", f"{w}x{h}", fmt, out_path],
                                  stdin=gst.stdout, start_new_session=True)
        gst.stdout.close()
        cons = gst
        deadline = time.monotonic() + 5
        while (sink.readers() or 0) < 1 and time.monotonic() < deadline:   # let it link first
            sink.send(base)
            time.sleep(1 / args.fps)
    sent = {}
    period = 1 / args.fps
    prod = sink._proc.pid
    c0 = (time.process_time(), proc_cpu(prod), resource.getrusage(resource.RUSAGE_CHILDREN))
    global counter
    t_next = time.monotonic()
    n = 0
    t_end = t_next + seconds
    while time.monotonic() < t_end:
        n += 1
        counter += 1
        draw_counter(base, counter)
        sent[counter] = time.monotonic()
        sink.send(base)
        sink.readers()                     # as the daemon's status line would
        t_next += period
        time.sleep(max(0.0, t_next - time.monotonic()))
    time.sleep(0.3)                        # let the last frames arrive
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    py = time.process_time() - c0[0]
    gst_cpu = proc_cpu(prod) - c0[1]
    pwlink = (ru.ru_utime + ru.ru_stime) - (c0[2].ru_utime + c0[2].ru_stime)
    res = {"frames": n, "python_ms_per_frame": 1e3 * py / n, "producer_ms_per_frame": 1e3 * gst_cpu / n,
           "pw_link_ms_per_frame": 1e3 * pwlink / n, "total_ms_per_frame": 1e3 * (py + gst_cpu + pwlink) / n,
           "cpu_percent_of_one_core": 100 * (py + gst_cpu + pwlink) / seconds}
    if cons is not None:
        res["consumer_gst_ms_per_frame"] = 1e3 * proc_cpu(cons.pid) / n   # whole life, informational
        for p in (cons, reader):
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait(5)
        first = {}
        with open(out_path) as f:
            for line in f:
                k, t = line.split()
                first.setdefault(int(k), float(t))      # first arrival of each picture
        lat = np.array([1e3 * (t - sent[k]) for k, t in first.items() if k in sent])
        if not len(lat):
            with open(err_path, errors="replace") as f:
                res["consumer_error"] = f.read()[-500:] or "no frames, no message"
            return res
        res.update(received=len(lat), latency_ms_median=float(np.median(lat)),
                   latency_ms_p95=float(np.percentile(lat, 95)), latency_ms_max=float(lat.max()))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pixel-format", default="I420")
    ap.add_argument("--current-session", action="store_true")
    ap.add_argument("--consumer", nargs=3, metavar=("WxH", "FMT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.consumer:
        w, h = map(int, args.consumer[0].split("x"))
        return consumer_main(w, h, *args.consumer[1:])
    args.size = tuple(map(int, args.size.split("x")))
    from pipewire_session import PipewireSession

    from vcam_sharpen.io.pipewire import PipewireSink
    session = None
    if not args.current_session:
        session = PipewireSession().start()
        session.apply()                    # process exits afterwards: no need to restore
    try:
        w, h = args.size
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (h, w, 3), np.uint8)        # content is irrelevant for raw video
        env = session.env if session else dict(os.environ)
        with tempfile.TemporaryDirectory() as tmp:
            sink = PipewireSink(args.size, args.fps, node_name="vcam-sharpen-measure", watch_usage=True,
                                pixel_format=args.pixel_format.upper())
            try:
                pw_pid = next((p.pid for n, p in session.procs if n == "pipewire"), None) if session else None
                pw0 = proc_cpu(pw_pid) if pw_pid else 0
                idle = run_phase(sink, args, base, args.seconds)
                busy = run_phase(sink, args, base, args.seconds, consumer_env=env, tmp=tmp)
                if pw_pid:
                    busy["pipewire_daemon_ms_per_frame_both_phases"] = \
                        1e3 * (proc_cpu(pw_pid) - pw0) / (idle["frames"] + busy["frames"])
            finally:
                sink.close()
        print(json.dumps({"size": f"{w}x{h}", "fps": args.fps, "pixel_format": args.pixel_format,
                          "no_consumer": idle, "one_consumer": busy}, indent=1))
    finally:
        if session:
            session.stop()


if __name__ == "__main__":
    main()
