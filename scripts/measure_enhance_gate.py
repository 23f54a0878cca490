"""What enhance's gate costs in the engine: the phase1x graph with the gate from the whole first layer (the old
graph, rebuilt here), from the model's grid (GATE_STRIDE, computed first from a strided convolution), and
without a gate (enhance-nogate). One ONNX Runtime thread, the face clip's first 720p frame, process CPU time
per frame, the three interleaved in rounds of 20 calls (median, min, max over rounds); also the largest
difference between the old and the new graph's output.

    python scripts/measure_enhance_gate.py 10
"""
import os
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

from vcam_sharpen.core import loader
from vcam_sharpen.runtime import graphs
from vcam_sharpen.runtime.engines import OrtEngine
from vcam_sharpen.frames.layout import split_phases


new_forward = graphs.PhaseGraph.forward


def old_forward(self, frame):
    """PhaseGraph.forward before the grid: the gate from the mean of the whole first layer."""
    x = (frame if self.planar or self.same_size else frame.permute(0, 3, 1, 2)).float()
    base = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, graphs.PHASE_PLANES - 12))
    y, scale = x, None
    for i, conv in enumerate(self.convs):
        y = conv(y)
        if i < len(self.convs) - 1:
            y = self.act(y)
        if i == 0 and self.gate is not None:
            scale = torch.sigmoid(self.gate(y.mean((2, 3))))[:, :, None, None]
    if scale is not None:
        y = y * scale
    return (base + y).round().clamp(0.0, 255.0).to(torch.uint8)



cap = cv2.VideoCapture("../shared/data/video/face_1280x720.mp4")
ok, frame = cap.read()
planes = split_phases(frame)[None].copy()
engines = {}
for name, fwd in (("old", old_forward), ("new", new_forward)):
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()
    graphs.PhaseGraph.forward = fwd
    e = OrtEngine(loader.load("enhance"), "cpu", threads=1)
    e._run("phase1x", planes)
    engines[name] = e
graphs.PhaseGraph.forward = new_forward
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()
e = OrtEngine(loader.load("enhance-nogate"), "cpu", threads=1)
e._run("phase1x", planes)
engines["nogate"] = e
o, n = engines["old"]._run("phase1x", planes).copy(), engines["new"]._run("phase1x", planes).copy()
print("max |old - new| grey levels on the face frame:", int(np.abs(o.astype(int) - n.astype(int)).max()))
res = {"old": [], "new": [], "nogate": []}
for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 8):
    for name in (("old", "new", "nogate") if r % 2 == 0 else ("nogate", "new", "old")):
        e = engines[name]
        c0 = time.process_time()
        for _ in range(20):
            e._run("phase1x", planes)
        res[name].append((time.process_time() - c0) / 20 * 1e3)
for name, v in res.items():
    print(f"{name}: CPU ms per 720p frame (phase1x graph, 1 thread): median {statistics.median(v):.2f}, "
          f"min {min(v):.2f}, max {max(v):.2f} over {len(v)} rounds of 20")
print("loadavg", open("/proc/loadavg").read().strip())
