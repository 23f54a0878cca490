import pytest
import torch

from torch import nn

from vcam_sharpen.core.degrade import (check_mode, degrade, degrade_pair, downscale, fits, model_input, model_scale,
                                      model_task, upscale)
from vcam_sharpen.core.errors import UserError
from vcam_sharpen.core.models import create_model, list_models
from vcam_sharpen.core.tags import TASKS, mode_task


def test_shape_and_range_kept():
    x = torch.rand(3, 3, 32, 32)
    y = degrade(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_half_size_is_a_2x2_box_average():
    x = torch.rand(1, 3, 8, 12)
    box = x.reshape(1, 3, 4, 2, 6, 2).mean(dim=(3, 5))
    assert torch.allclose(downscale(x, 2), box, atol=1e-6)


def test_known_values():
    # 4x4 ramp 0..15: the 2x2 means are 2.5, 4.5, 10.5, 12.5
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    small = downscale(x, 2)
    assert small.flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    up = upscale(small, (4, 4))
    # half-pixel bilinear: corners copy the nearest sample, inner pixels blend 3:1
    assert up[0, 0, 0, 0].item() == pytest.approx(2.5)
    assert up[0, 0, 0, 1].item() == pytest.approx(0.75 * 2.5 + 0.25 * 4.5)
    assert up[0, 0, 1, 1].item() == pytest.approx(0.5625 * 2.5 + 0.1875 * 4.5 + 0.1875 * 10.5 + 0.0625 * 12.5)


def test_constant_image_is_unchanged():
    x = torch.full((1, 3, 10, 14), 0.3)
    assert torch.allclose(degrade(x), x)


def test_factor_one_is_identity_and_the_pair_matches():
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(degrade(x, 1), x)
    small, degraded = degrade_pair(x, 2)
    assert torch.equal(small, downscale(x, 2)) and torch.equal(degraded, degrade(x, 2))
    assert torch.equal(upscale(small, (6, 6)), degraded)
    small, degraded = degrade_pair(x, 1)
    assert small is x and degraded is x


def test_odd_sizes_floor_the_small_size():
    x = torch.rand(2, 3, 9, 13)
    small, degraded = degrade_pair(x, 2)
    assert small.shape == (2, 3, 4, 6) and degraded.shape == x.shape


def test_a_model_takes_the_half_size_or_the_degraded_frame():
    class Half(nn.Identity):
        input_scale = 2

    small, degraded = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 8, 8)
    assert model_scale(nn.Identity()) == 1 and model_scale(Half()) == 2
    assert model_input(nn.Identity(), small, degraded) is degraded
    assert model_input(Half(), small, degraded) is small


def test_check_mode_ties_a_model_to_a_frame_mode():
    check_mode(1, 1)
    check_mode(1, 2)
    check_mode(2, 2)
    check_mode(2, 1, upscale=True)
    with pytest.raises(UserError, match="is a 2x model"):
        check_mode(2, 1)
    with pytest.raises(UserError, match="--degrade must be 1 or 2"):
        check_mode(1, 3)


@pytest.mark.parametrize("name", list_models())
def test_every_architecture_has_one_rule_for_every_mode(name):
    """The check reads the model itself (or an engine, or None): a 2x model only in the 2x modes, a same-size
    model only at the frame's own size, a full-resolution restorer anywhere; each refusal is one line that
    names the model and the fix."""
    model = create_model(name)
    task = model_task(model)
    assert task in (None, *TASKS)
    for degrade, upscale in ((2, False), (1, True), (1, False)):
        ok = task is None or task == mode_task(degrade, upscale)
        assert fits(model, degrade, upscale) == ok
        if not ok:
            with pytest.raises(UserError) as e:
                check_mode(model, degrade, upscale)
            assert name in str(e.value) and "\n" not in str(e.value) and "use --degrade" in str(e.value)
    assert model_task(None) is None and fits(None, 1) and fits(None, 2, True)


def test_a_same_size_model_in_a_2x_mode_says_so_in_the_users_words():
    with pytest.raises(UserError, match="enhance sharpens at the frame's own size; use --degrade 1, or a 2x model "
                                        "such as student"):
        check_mode(create_model("enhance"), 2)
    with pytest.raises(UserError, match="drop --upscale"):
        check_mode(create_model("enhance"), 1, upscale=True)


def test_bad_factor_and_tiny_image():
    with pytest.raises(ValueError):
        degrade(torch.rand(1, 3, 8, 8), 0)
    with pytest.raises(ValueError):
        degrade(torch.rand(1, 3, 1, 8), 2)
