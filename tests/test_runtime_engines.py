"""Inference engines: ONNX Runtime and torch agree with the model; CUDA is never required."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vcam_sharpen.core import checkpoint
from vcam_sharpen.core.baselines import UnsharpMask, unsharp_mask
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import HalfResNet, create_model
from vcam_sharpen.frames.sharpen import BoxDownscaler, Sharpener, bilinear_upscale
from vcam_sharpen.runtime import engines as engine_mod
from vcam_sharpen.runtime.engines import (OrtEngine, TorchEngine, UnsharpEngine, create_engine, pick_engine,
                                          prefers_blocked_layout)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEO = SHARED_DATA / "video" / "face_1280x720.mp4"


pytestmark = pytest.mark.usefixtures("onnx_cache")


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return create_model("seed-student").eval()


def rand_frame(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def reference(model, small):
    """Torch float reference of the uint8 2x path: small BGR uint8 -> restored BGR float 0..255."""
    x = torch.from_numpy(small[:, :, ::-1].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        if getattr(model, "input_scale", 1) == 1:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        y = model(x).clamp(0, 1) * 255.0
    return y[0].permute(1, 2, 0).numpy()[:, :, ::-1]


class TinyUpscaler(nn.Module):
    """A 2x model (input_scale 2): conv to 12 channels, pixel shuffle."""

    input_scale = 2

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2) + F.interpolate(x, scale_factor=2, mode="nearest")


def test_no_model_means_no_engine():
    assert create_engine(None) is None


def test_the_unsharp_baseline_runs_in_opencv():
    eng = create_engine(UnsharpMask(1.0, 2.0))
    assert isinstance(eng, UnsharpEngine) and eng.input_scale == 1 and "opencv" in eng.describe()
    full = rand_frame(21, 30)
    want = unsharp_mask(full.astype(np.float32) / 255.0, 1.0, 2.0) * 255.0
    assert np.abs(eng.restore_full(full).astype(np.float64) - want).max() <= 0.5 + 1e-3
    small = rand_frame(8, 9)
    assert np.array_equal(eng.restore_half(small), eng.restore_full(bilinear_upscale(small)))
    out = Sharpener(eng, degrade=2).process(rand_frame(16, 18))
    assert out.shape == (16, 18, 3)


def test_cuda_without_cuda_is_a_user_error(monkeypatch):
    monkeypatch.setattr(engine_mod, "cuda_available_torch", lambda: False)
    monkeypatch.setattr(engine_mod, "ort_providers", lambda: ["CPUExecutionProvider"])
    for eng in ("auto", "torch", "onnxruntime"):
        with pytest.raises(UserError, match="--device cuda"):
            pick_engine(eng, "cuda")
    assert pick_engine("auto", "auto") == ("onnxruntime", "cpu")
    assert pick_engine("torch", "auto") == ("torch", "cpu")
    with pytest.raises(UserError, match="unknown engine"):
        pick_engine("tensorrt", "auto")
    with pytest.raises(UserError, match="unknown device"):
        pick_engine("auto", "tpu")


def test_cuda_is_picked_when_present(monkeypatch):
    monkeypatch.setattr(engine_mod, "cuda_available_torch", lambda: True)
    monkeypatch.setattr(engine_mod, "ort_providers", lambda: ["CPUExecutionProvider"])
    assert pick_engine("auto", "auto") == ("torch", "cuda")
    assert pick_engine("onnxruntime", "auto") == ("onnxruntime", "cpu")


def test_ort_session_options(student, monkeypatch):
    import onnxruntime as ort

    made = []
    real = ort.InferenceSession

    def spy(data, options=None, **kw):
        made.append((options, kw))
        return real(data, options, **kw)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    eng = create_engine(student, engine="onnxruntime", device="cpu")
    assert isinstance(eng, OrtEngine) and eng.threads == 2 and "2 threads" in eng.describe()
    eng.restore_planar(np.ascontiguousarray(rand_frame(8, 10).transpose(2, 0, 1)))
    eng.restore_planar(np.ascontiguousarray(rand_frame(8, 10).transpose(2, 0, 1)))
    assert len(made) == 1  # one session per graph, reused frame after frame
    opts, kw = made[0]
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert kw["providers"] == ["CPUExecutionProvider"]
    one = create_engine(student, engine="onnxruntime", threads=1)
    one.restore_half(rand_frame(8, 8))
    assert one.threads == 1 and made[-1][0].intra_op_num_threads == 1
    with pytest.raises(UserError):
        create_engine(student, threads=0)


def test_graphs_are_cached_by_weights(student, onnx_cache):
    eng = create_engine(student, engine="onnxruntime")
    eng.restore_half(rand_frame(8, 8))
    files = sorted(onnx_cache.glob("*.onnx"))
    assert len(files) == 1 and "frame2x" in files[0].name
    mtime = files[0].stat().st_mtime_ns
    create_engine(student, engine="onnxruntime").restore_half(rand_frame(8, 8))
    assert files[0].stat().st_mtime_ns == mtime
    other = create_model("seed-student").eval()
    create_engine(other, engine="onnxruntime").restore_half(rand_frame(8, 8))
    assert len(list(onnx_cache.glob("*frame2x.onnx"))) == 2


@pytest.mark.parametrize("kind", ["onnxruntime", "torch"])
def test_fused_uint8_paths_within_one_grey_level(student, kind):
    eng = create_engine(student, engine=kind, device="cpu")
    small = rand_frame(23, 34)
    ref = reference(student, small)
    half = eng.restore_half(small)
    assert half.shape == (46, 68, 3) and half.dtype == np.uint8
    assert np.abs(half.astype(np.float64) - ref).max() <= 1.0
    planar = eng.restore_planar(np.ascontiguousarray(small.transpose(2, 0, 1)))
    assert np.array_equal(planar, half)
    full = rand_frame(21, 30, seed=3)  # --degrade 1: the model on the frame itself
    x = torch.from_numpy(full[:, :, ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        ref_full = (student(x).clamp(0, 1) * 255)[0].permute(1, 2, 0).numpy()[:, :, ::-1]
    assert np.abs(eng.restore_full(full).astype(np.float64) - ref_full).max() <= 1.0


def test_engines_agree_on_a_real_picture(student):
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[:, :, ::-1][:200, 100:340])
    small = BoxDownscaler().hwc(img)
    a = create_engine(student, engine="onnxruntime").restore_half(small)
    b = create_engine(student, engine="torch").restore_half(small)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert np.abs(a.astype(np.float64) - reference(student, small)).max() <= 1.0


@pytest.mark.skipif(not VIDEO.is_file(), reason="../shared/data is not beside the checkout")
def test_video_frames_through_the_sharpener(student):
    import cv2

    cap = cv2.VideoCapture(str(VIDEO))
    ok, img = cap.read()
    cap.release()
    assert ok
    img = np.ascontiguousarray(img[200:392, 500:756])
    out = Sharpener(create_engine(student, engine="onnxruntime"), degrade=2).process(img)
    ref = reference(student, BoxDownscaler().hwc(img))
    assert out.shape == img.shape and np.abs(out.astype(np.float64) - ref).max() <= 1.0


@pytest.mark.parametrize("kind", ["onnxruntime", "torch"])
def test_two_x_models(kind):
    torch.manual_seed(0)
    model = TinyUpscaler().eval()
    eng = create_engine(model, engine=kind, device="cpu")
    assert eng.input_scale == 2
    small = rand_frame(9, 13)
    out = eng.restore_half(small)
    assert out.shape == (18, 26, 3)
    assert np.abs(out.astype(np.float64) - reference(model, small)).max() <= 1.0
    with pytest.raises(UserError, match="is a 2x model"):  # the one mode rule, before any graph is built
        eng.restore_full(rand_frame(8, 8))
    out = Sharpener(eng, degrade=2).process(rand_frame(19, 27))
    assert out.shape == (19, 27, 3)


def test_engines_for_a_loaded_checkpoint(tmp_path, student):
    path = checkpoint.save(tmp_path / "mine.pt", student)
    model, _ = checkpoint.load(path)
    eng = create_engine(model)
    assert isinstance(eng, OrtEngine) and eng.model_name == "seed-student" and eng.device == "cpu"
    torch_eng = create_engine(model, engine="torch")
    assert isinstance(torch_eng, TorchEngine) and torch_eng.describe().startswith("seed-student on torch/cpu")
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    small = rand_frame(6, 7)
    assert np.abs(eng.restore_half(small).astype(int) - torch_eng.restore_half(small).astype(int)).max() <= 1
    with pytest.raises(UserError, match="unknown engine"):
        create_engine(model, engine="tensorrt")


def test_layout_choice():
    assert not prefers_blocked_layout(create_model("seed-student"))
    assert prefers_blocked_layout(create_model("seed-teacher"))
    for layout in ("nchwc", "plain"):
        eng = OrtEngine(create_model("seed-student").eval(), layout=layout)
        assert eng.blocked == (layout == "nchwc")
        assert eng.restore_half(rand_frame(6, 7)).shape == (12, 14, 3)


def strong_phase_model(name, args, kind):
    """A seeded model with its weights scaled up (strong corrections, so the sum/residual and the clamp both
    matter) and its engine."""
    torch.manual_seed(len(args))
    model = create_model(name, **args).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)
    return model, create_engine(model, engine=kind, device="cpu")


@pytest.mark.parametrize("args", [{}, {"expand": 8}, {"layers": 4, "kernels": "5-3-1-1", "expand": 8},
                                  {"layers": 5, "kernels": "3-d3-1-d3-1", "expand": 8},
                                  {"channels": 15, "layers": 4, "kernels": "3-d3-1-1"}])
@pytest.mark.parametrize("kind", ["onnxruntime", "torch"])
def test_half_res_student_runs_as_a_phase_graph(kind, args):
    model, eng = strong_phase_model("student", args, kind)
    assert eng.phases and eng.input_scale == 2
    for h, w in [(17, 23), (1, 1), (2, 3)]:
        small = rand_frame(h, w, seed=h)
        out = eng.restore_half(small)
        assert out.shape == (2 * h, 2 * w, 3)
        assert np.abs(out.astype(np.float64) - reference(model, small)).max() <= 1.0
        planar = eng.restore_planar(np.ascontiguousarray(small.transpose(2, 0, 1)))
        assert np.array_equal(planar, out)


def test_ort_phase_sessions_are_per_size_and_bounded():
    eng = create_engine(create_model("student").eval(), engine="onnxruntime")
    for h in range(2, 12):
        assert eng.restore_half(rand_frame(h, 5)).shape == (2 * h, 10, 3)
    assert len(eng._sessions) <= 6


def test_phase_results_are_double_buffered():
    eng = create_engine(create_model("student").eval(), engine="onnxruntime")
    a = eng.restore_half(rand_frame(8, 8, seed=1))
    keep = a.copy()
    b = eng.restore_half(rand_frame(8, 8, seed=2))
    assert a is not b and np.array_equal(a, keep)


def test_student_on_a_real_picture():
    from skimage import data

    torch.manual_seed(0)
    model = create_model("student").eval()
    img = np.ascontiguousarray(data.astronaut()[:, :, ::-1][:201, 100:341])  # odd size
    out = Sharpener(create_engine(model, engine="onnxruntime"), degrade=2).process(img)
    assert out.shape == img.shape
    ref = reference(model, BoxDownscaler().hwc(img))
    assert np.abs(out[:200, :240].astype(np.float64) - ref).max() <= 1.0


def test_a_damaged_cache_file_is_replaced(student, onnx_cache):
    create_engine(student, engine="onnxruntime").restore_half(rand_frame(8, 8))
    (path,) = onnx_cache.glob("*.onnx")
    path.write_bytes(b"not an onnx file")
    out = create_engine(student, engine="onnxruntime").restore_half(rand_frame(8, 8))
    assert out.shape == (16, 16, 3) and path.read_bytes() != b"not an onnx file"


def test_unknown_half_res_variants_fall_back_to_generic_graphs():
    class Different(HalfResNet):  # a forward the phase rewrite does not know
        def forward(self, x):
            return super().forward(x) * 0.5

    torch.manual_seed(0)
    model = Different(8, 2).eval()
    eng = create_engine(model, engine="onnxruntime")
    assert not eng.phases
    small = rand_frame(7, 9)
    assert np.abs(eng.restore_half(small).astype(np.float64) - reference(model, small)).max() <= 1.0


def same_size_reference(model, frame):
    """Torch float reference of the same-size path: BGR uint8 frame -> sharpened BGR float 0..255."""
    x = torch.from_numpy(frame[:, :, ::-1].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model(x).clamp(0, 1) * 255.0
    return y[0].permute(1, 2, 0).numpy()[:, :, ::-1]


@pytest.mark.parametrize("args", [{}, {"expand": 8}, {"layers": 2, "kernels": "3-3"}])
@pytest.mark.parametrize("kind", ["onnxruntime", "torch"])
def test_enhance_runs_as_a_same_size_phase_graph(kind, args):
    """ONNX (and torch) phase graphs equal the model within one grey level, odd and tiny sizes included."""
    model, eng = strong_phase_model("enhance", args, kind)
    assert eng.phases and eng.input_scale == 1
    for h, w in [(18, 24), (17, 23), (1, 1), (2, 3)]:
        img = rand_frame(h, w, seed=h)
        out = eng.restore_full(img)
        assert out.shape == (h, w, 3)
        assert np.abs(out.astype(np.float64) - same_size_reference(model, img)).max() <= 1.0


def test_enhance_in_the_sharpener_strength_zero_is_the_frame_itself():
    torch.manual_seed(0)
    sharp = Sharpener(create_engine(create_model("enhance").eval(), engine="onnxruntime"), degrade=1)
    img = rand_frame(36, 48)
    assert not np.array_equal(sharp.process(img), img)
    sharp.apply_live({"strength": 0.0})
    assert np.array_equal(sharp.process(img), img)
