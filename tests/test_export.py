"""ONNX export: dynamic sizes, parity with torch on random and real frames, the export command."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from vcam_sharpen import checkpoint
from vcam_sharpen.cli import cli
from vcam_sharpen.export import OPSET, export_bytes, fold_io, parity
from vcam_sharpen.models import create_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEO = SHARED_DATA / "video" / "face_1280x720.mp4"


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


def test_folding_only_for_plain_conv_stacks():
    assert fold_io(create_model("seed-student")) is not None

    class Residual(torch.nn.Module):
        def forward(self, x):
            return x

    assert fold_io(Residual()) is None


def test_export_command_writes_a_loadable_file(tmp_path):
    weights = checkpoint.save(tmp_path / "mine.pt", create_model("seed-student"))
    out = tmp_path / "mine.onnx"
    r = CliRunner().invoke(cli, ["export", "--weights", str(weights), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["path"] == str(out) and info["max_abs_diff"] <= 1e-4 and info["opset"] >= 17
    onnx.checker.check_model(onnx.load(str(out)))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": np.random.rand(1, 3, 30, 41).astype(np.float32)})[0]
    assert y.shape == (1, 3, 30, 41)

    out2 = tmp_path / "frame.onnx"
    r = CliRunner().invoke(cli, ["export", "--weights", str(weights), "--out", str(out2), "--kind", "frame2x"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output
    sess = ort.InferenceSession(str(out2), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"frame": np.zeros((1, 10, 12, 3), np.uint8)})[0]
    assert y.shape == (1, 20, 24, 3) and y.dtype == np.uint8


def test_export_command_errors(tmp_path):
    r = CliRunner().invoke(cli, ["export", "--weights", str(tmp_path / "nope.pt")])
    assert r.exit_code == 2 and "does not exist" in r.output and "Traceback" not in r.output
    weights = checkpoint.save(tmp_path / "mine.pt", create_model("seed-student"))
    r = CliRunner().invoke(cli, ["export", "--model", "seed-teacher", "--weights", str(weights)])
    assert r.exit_code == 2 and "not 'seed-teacher'" in r.output
