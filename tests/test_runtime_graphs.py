"""The fused frame graphs: colour/scale folding, the half-resolution phase graph, graph kinds."""

import numpy as np
import pytest
import torch

from vcam_sharpen.core import loader
from vcam_sharpen.core.models import GATE_STRIDE, HalfResNet, create_model
from vcam_sharpen.frames.layout import interleave_phases, split_phases
from vcam_sharpen.runtime.graphs import (KINDS, PHASE_KINDS, PHASE_PLANES, FrameGraph, PhaseGraph, fold_io,
                                         graph_module, phase_capable)


def frames(shape, seed=0):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def reference(model, x_bgr_planes, upscale):
    """Float reference: uint8 BGR planes -> the model on RGB [0, 1] -> BGR 0..255 (unrounded)."""
    x = x_bgr_planes.flip(1).float() / 255.0
    with torch.no_grad():
        if upscale and getattr(model, "input_scale", 1) == 1:
            x = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return (model(x).clamp(0, 1) * 255.0).flip(1)


def test_folding_only_for_plain_conv_stacks():
    assert fold_io(create_model("seed-student")) is not None

    class Residual(torch.nn.Module):
        def forward(self, x):
            return x

    assert fold_io(Residual()) is None
    assert fold_io(torch.nn.Sequential()) is None
    assert fold_io(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())) is None


@pytest.mark.parametrize("fold", [True, False])
def test_frame_graph_matches_the_float_model_within_one_grey_level(fold):
    torch.manual_seed(0)
    model = create_model("seed-student").eval()
    g = FrameGraph(model, upscale=True, fold=fold, planar=True).eval()
    assert g.folded == fold and g.resize
    x = frames((1, 3, 9, 11))
    with torch.no_grad():
        out = g(x)
    assert out.shape == (1, 18, 22, 3) and out.dtype == torch.uint8
    ref = reference(model, x, upscale=True).permute(0, 2, 3, 1)
    assert (out.double() - ref.double()).abs().max() <= 1.0
    with pytest.raises(ValueError, match="2x model"):
        FrameGraph(create_model("student"), upscale=False)


def test_phase_graph_is_the_model_in_phase_planes():
    torch.manual_seed(0)
    model = create_model("student").eval()
    assert phase_capable(model) and phase_capable(model, check=True)
    assert not phase_capable(create_model("seed-student"))
    x = frames((1, 3, 7, 9), seed=1)
    with torch.no_grad():
        phases = PhaseGraph(model)(x)[0].numpy()
    assert phases.shape == (PHASE_PLANES, 7, 9) and phases.dtype == np.uint8
    ref = reference(model, x, upscale=True)[0].permute(1, 2, 0).numpy()
    assert np.abs(interleave_phases(phases).astype(np.float64) - ref).max() <= 1.0
    with pytest.raises(ValueError):
        PhaseGraph(create_model("seed-student"))


def test_a_half_res_variant_the_rewrite_does_not_know_is_not_phase_capable():
    class Different(HalfResNet):
        def forward(self, x):
            return super().forward(x) * 0.5

    model = Different(8, 2).eval()
    assert phase_capable(model) and not phase_capable(model, check=True)


def test_graph_kinds():
    model = create_model("seed-student").eval()
    assert graph_module(model, "model") is model
    assert isinstance(graph_module(model, "frame"), FrameGraph) and not graph_module(model, "frame").resize
    assert graph_module(model, "planar2x").planar and not graph_module(model, "frame2x").planar
    assert set(KINDS) == {"model", "frame2x", "planar2x", "frame"} and set(PHASE_KINDS).isdisjoint(KINDS)
    assert isinstance(graph_module(create_model("student"), "phase2x"), PhaseGraph)
    with pytest.raises(ValueError, match="unknown graph kind"):
        graph_module(model, "nope")


def test_the_enhance_gate_comes_first_from_the_models_grid():
    """The phase graph computes enhance's gate from a strided first convolution before the main chain; on a
    frame the size of a small camera picture it matches the model's grid mean (within one grey level)."""
    model = loader.load("enhance")
    frame = torch.randint(0, 256, (1, 72, 100, 3), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    planes = torch.from_numpy(split_phases(frame[0].numpy()))[None]
    with torch.no_grad():
        phases = PhaseGraph(model)(planes)[0].numpy()
        ref = FrameGraph(model, upscale=False)(frame)[0].numpy()
    assert np.abs(interleave_phases(phases).astype(int) - ref).max() <= 1
    assert GATE_STRIDE > 1
