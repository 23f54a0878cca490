import pytest
import torch

from vcam_sharpen.core.models import GATE_STRIDE, count_macs, count_parameters, create_model, list_models


def test_seed_parameter_counts_match_the_writeup():
    assert count_parameters(create_model("seed-teacher")) == 57_283
    assert count_parameters(create_model("seed-student")) == 499


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("size", [(32, 32), (17, 23)])
def test_every_model_keeps_the_frame_size(name, size):
    model = create_model(name).eval()
    scale = getattr(model, "input_scale", 1)
    x = torch.rand(2, 3, size[0] // scale, size[1] // scale)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, size[0] // scale * scale, size[1] // scale * scale)
    assert y.dtype == torch.float32


def test_macs_count_the_convolutions():
    # 3x3 conv 3->16 and 1x1 conv 16->3 at every pixel of a 720p frame
    assert count_macs(create_model("seed-student"), 720, 1280) == 1280 * 720 * (3 * 16 * 9 + 16 * 3)


def test_unknown_model_names_the_choices():
    with pytest.raises(KeyError, match="seed-student"):
        create_model("no-such-model")


def test_same_seed_same_weights():
    torch.manual_seed(3)
    a = create_model("seed-teacher").state_dict()
    torch.manual_seed(3)
    b = create_model("seed-teacher").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name, extra", [("student", {}), ("student", {"layers": 3, "kernels": "3-3-1"}),
                                         ("student", {"layers": 5, "kernels": "3-d3-1-d3-1"}),
                                         ("teacher", {"blocks": 0})])
def test_reparameterized_training_form_collapses_to_the_same_function(name, extra):
    torch.manual_seed(0)
    model = create_model(name, expand=32, **extra).eval()
    x = torch.rand(2, 3, 9, 13)
    with torch.no_grad():
        before = model(x)
        after = model.collapse()(x)
    assert torch.allclose(before, after, atol=1e-5)
    assert model.model_args["expand"] == 0
    assert count_parameters(model) == count_parameters(create_model(name, **extra))


def test_teacher_flip_ensemble_is_the_mean_of_both_passes_and_mirror_symmetric():
    torch.manual_seed(0)
    two = create_model("teacher", channels=8, blocks=2).eval()
    one = create_model("teacher", channels=8, blocks=2, ensemble=1).eval()
    one.load_state_dict(two.state_dict())
    x = torch.rand(2, 3, 9, 13)
    with torch.no_grad():
        expected = 0.5 * (one(x) + one(x.flip(-1)).flip(-1))
        assert torch.allclose(two(x), expected, atol=1e-6)
        assert torch.allclose(two(x.flip(-1)), two(x).flip(-1), atol=1e-5)
    assert count_macs(two) == 2 * count_macs(one)
    with pytest.raises(ValueError):
        create_model("teacher", ensemble=8)


def test_half_res_model_budget():
    # the default student must stay within 1.0 GMAC per 720p output frame
    assert count_macs(create_model("student"), 720, 1280) <= 1.0e9


@pytest.mark.parametrize("args", [{}, {"layers": 4, "kernels": "3-3-1-1"}])
def test_half_res_model_starts_from_bilinear(args):
    # with the correction zeroed the output is exactly the bilinear upscale
    model = create_model("student", **args)
    torch.nn.init.zeros_(model.convs[-1].weight)
    torch.nn.init.zeros_(model.convs[-1].bias)
    x = torch.rand(1, 3, 8, 8)
    expected = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(model(x), expected, atol=1e-6)


def test_depthwise_layers_cost_one_filter_per_channel():
    dense = create_model("student", layers=3, kernels="3-3-1")
    sep = create_model("student", layers=3, kernels="3-d3-1")
    assert sep.convs[1].groups == 16
    assert count_macs(dense) - count_macs(sep) == 640 * 360 * 9 * (16 * 16 - 16)


def test_kernel_sizes_must_be_odd_and_one_per_layer():
    for bad in ({"kernels": "4-3"}, {"kernels": "3-2"}, {"kernels": "3-3-3"}, {"kernels": "d3-1"},
                {"kernels": "3-d3"}, {"kernels": "3-x"}):
        with pytest.raises(ValueError):
            create_model("student", **bad)


@pytest.mark.parametrize("name", ["enhance", "enhance-teacher"])
def test_enhance_models_are_the_input_plus_a_correction(name):
    """A zero last layer leaves any frame, odd sizes included, exactly as it is (the residual)."""
    model = create_model(name).eval()
    last = model.convs[-1] if name == "enhance" else model.tail
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        x = torch.rand(2, 3, 17, 23)
        assert torch.equal(model(x), x)


def test_enhance_costs_about_what_the_default_student_costs():
    enhance, student = count_macs(create_model("enhance")), count_macs(create_model("student"))
    assert 0.9 * student <= enhance <= 1.1 * student


def test_enhance_sees_each_pixel_in_its_own_phase():
    """Changing one input pixel changes the output only within the 3x3 half-size window of its phase block
    (a 6x6 window of the frame): the phase (un)shuffle is wired the right way round."""
    torch.manual_seed(0)
    model = create_model("enhance", gate=0).eval()  # the gate reads the whole frame: see the next test
    x = torch.rand(1, 3, 20, 20)
    y = x.clone()
    y[0, 1, 10, 11] += 0.5
    with torch.no_grad():
        diff = (model(y) - model(x)).abs().sum(1)[0]
    rows, cols = torch.nonzero(diff > 1e-6, as_tuple=True)
    assert rows.min() >= 8 and rows.max() <= 13 and cols.min() >= 8 and cols.max() <= 13


def test_the_enhance_gate_scales_each_images_correction_by_its_own_statistics():
    """The gate is per image (batch members do not mix) and in (0, 1): a correction is scaled, never flipped."""
    torch.manual_seed(0)
    gated = create_model("enhance").eval()
    plain = create_model("enhance", gate=0).eval()
    plain.load_state_dict({k: v for k, v in gated.state_dict().items() if not k.startswith("gate.")})
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16) * 0.2
    with torch.no_grad():
        both = gated(torch.cat([a, b]))
        assert torch.allclose(both[:1], gated(a), atol=1e-6) and torch.allclose(both[1:], gated(b), atol=1e-6)
        ratio = (gated(a) - a) / (plain(a) - a)
    finite = ratio[torch.isfinite(ratio) & ((plain(a) - a).abs() > 1e-4)]
    assert finite.numel() > 0 and finite.min() > 0 and finite.max() < 1


def test_the_enhance_gate_averages_the_first_layer_on_a_grid():
    """enhance's gate reads the first layer's features at every GATE_STRIDE-th row and column only."""
    torch.manual_seed(0)
    model = create_model("enhance").eval()
    x = torch.rand(1, 12, 24, 32)
    with torch.no_grad():
        feats = model.act(model.convs[0](x))
        want = torch.sigmoid(model.gate(feats[..., ::GATE_STRIDE, ::GATE_STRIDE].mean((2, 3))))[:, :, None, None]
        y = x
        for i, conv in enumerate(model.convs):
            y = conv(y)
            y = model.act(y) if i < len(model.convs) - 1 else y
        assert torch.allclose(model.body(x), y * want, atol=1e-6)
