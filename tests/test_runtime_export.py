"""ONNX export: dynamic sizes, parity with torch on random and real frames, the graph cache, export files."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import create_model
from vcam_sharpen.runtime.export import (OPSET, cache_dir, cached_bytes, export_bytes, export_file, parity,
                                         static_shape, weights_hash)
from vcam_sharpen.runtime.graphs import graph_module

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEO = SHARED_DATA / "video" / "face_1280x720.mp4"


pytestmark = pytest.mark.usefixtures("onnx_cache")


@pytest.fixture(scope="module", params=["seed-student", "seed-teacher", "student"])
def model(request):
    torch.manual_seed(0)
    return create_model(request.param).eval()


@pytest.fixture(scope="module")
def session(model):
    return ort.InferenceSession(export_bytes(model, "model"), providers=["CPUExecutionProvider"])


def run_both(model, session, x):
    with torch.no_grad():
        ref = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    return got, ref


def rand_frame(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 37, 61)])
def test_random_input_parity_with_dynamic_size(model, session, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    got, ref = run_both(model, session, x)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-4


def rgb_tensor(img):
    return torch.from_numpy(np.ascontiguousarray(img).astype(np.float32) / 255.0).permute(2, 0, 1)[None]


def test_astronaut_parity(model, session):
    from skimage import data

    img = data.astronaut()[100:228, 150:310]
    got, ref = run_both(model, session, rgb_tensor(img))
    assert np.abs(got - ref).max() <= 1e-4


@pytest.mark.skipif(not VIDEO.is_file(), reason="../shared/data is not beside the checkout")
def test_video_frame_parity(model, session):
    import cv2

    cap = cv2.VideoCapture(str(VIDEO))
    frames = []
    for i in range(3):
        ok, img = cap.read()
        assert ok
        frames.append(img[300 + 20 * i: 396 + 20 * i, 560:688, ::-1])
    cap.release()
    for img in frames:
        got, ref = run_both(model, session, rgb_tensor(img))
        assert np.abs(got - ref).max() <= 1e-4


def test_graph_structure():
    m = create_model("seed-student").eval()
    proto = onnx.load_from_string(export_bytes(m, "frame2x"))
    assert proto.opset_import[0].version >= OPSET >= 17
    resize = [n for n in proto.graph.node if n.op_type == "Resize"]
    assert len(resize) == 1
    attrs = {a.name: a.s for a in resize[0].attribute if a.type == onnx.AttributeProto.STRING}
    assert attrs["mode"] == b"linear" and attrs["coordinate_transformation_mode"] == b"half_pixel"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param for d in dims][1:3] == ["height", "width"]
    for kind in ("model", "frame2x", "planar2x", "frame"):
        assert parity(m, export_bytes(m, kind), kind) <= (1e-4 if kind == "model" else 1.0)


def test_the_cached_float_graph_matches_torch():
    """The plain network graph the cache holds (what ``export --kind model`` writes) runs as torch does."""
    torch.manual_seed(0)
    student = create_model("seed-student").eval()
    x = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = student(x).numpy()
    sess = ort.InferenceSession(cached_bytes(student, "model"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-4


def test_phase_graph_ends_in_one_quantize_and_fixes_its_size():
    torch.manual_seed(0)
    model = create_model("student").eval()
    data = cached_bytes(model, "phaseplanar2x")
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert ops[-1] == "QuantizeLinear" and "Clip" not in ops and "Round" not in ops
    fixed = static_shape(data, (1, 3, 9, 11))
    dims = onnx.load_from_string(fixed).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 9, 11]
    x = np.ascontiguousarray(rand_frame(9, 11).transpose(2, 0, 1))[None]
    dyn, stat = (ort.InferenceSession(d, providers=["CPUExecutionProvider"]) for d in (data, fixed))
    a, b = dyn.run(None, {"frame": x})[0], stat.run(None, {"frame": x})[0]
    assert a.shape == b.shape == (1, 16, 9, 11)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # a fused sum may round the other way
    with pytest.raises(ValueError):
        static_shape(data, (9, 11))


def test_the_tile_graph_keeps_a_free_batch_and_matches_torch():
    torch.manual_seed(0)
    model = create_model("student").eval()
    data = static_shape(cached_bytes(model, "tiles2x"), (None, 3, 20, 20), (None, 1, 20, 20))
    inputs = onnx.load_from_string(data).graph.input
    assert [i.name for i in inputs] == ["tiles", "inside"]
    assert inputs[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for n in (1, 5):  # one session, any number of tiles
        tiles = np.stack([np.ascontiguousarray(rand_frame(20, 20, seed=i).transpose(2, 0, 1)) for i in range(n)])
        inside = np.ones((n, 1, 20, 20), np.float32)
        got = sess.run(None, {"tiles": tiles, "inside": inside})[0]
        with torch.no_grad():
            ref = graph_module(model, "tiles2x")(torch.from_numpy(tiles), torch.from_numpy(inside)).numpy()
        assert got.shape == ref.shape == (n, 16, 16, 16) and np.abs(got.astype(int) - ref).max() <= 1


def test_the_cache_is_keyed_by_the_weights(onnx_cache):
    torch.manual_seed(0)
    a = create_model("seed-student").eval()
    b = create_model("seed-student").eval()
    assert cache_dir() == onnx_cache
    assert weights_hash(a) == weights_hash(a) and weights_hash(a) != weights_hash(b)
    data = cached_bytes(a, "frame2x")
    (path,) = onnx_cache.glob("*.onnx")
    assert path.name == f"seed-student-{weights_hash(a)}-frame2x.onnx" and path.read_bytes() == data
    path.write_bytes(b"stale")
    assert cached_bytes(a, "frame2x") == b"stale"  # read back as it is (the engines re-export on failure)
    assert cached_bytes(a, "frame2x", refresh=True) == data and path.read_bytes() == data
    assert not [p for p in onnx_cache.iterdir() if p.name.startswith(".")]  # no temp files left


def test_export_file_writes_and_checks_it(tmp_path):
    m = create_model("seed-student").eval()
    info = export_file(m, tmp_path / "m.onnx", "frame")
    assert info["path"] == str(tmp_path / "m.onnx") and info["kind"] == "frame" and info["opset"] == OPSET
    assert info["bytes"] == (tmp_path / "m.onnx").stat().st_size and info["max_abs_diff"] <= 1.0
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")))
    with pytest.raises(UserError, match="cannot write"):
        export_file(m, tmp_path / "no" / "such" / "dir" / "m.onnx")
