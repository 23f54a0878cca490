"""Tuning the unsharp-mask baseline on training images: every grid point scored, best SSIM first."""

from conftest import smooth_images
from train.unsharp import main, tune_unsharp


def test_tune_unsharp_scores_the_grid_best_first():
    ranking = tune_unsharp(smooth_images(6), sigmas=[0.5, 1.0], amounts=[0.0, 1.5])
    assert len(ranking) == 4 and {(r["sigma"], r["amount"]) for r in ranking} == {
        (0.5, 0.0), (0.5, 1.5), (1.0, 0.0), (1.0, 1.5)}
    assert [r["ssim"] for r in ranking] == sorted((r["ssim"] for r in ranking), reverse=True)
    assert all(r["n"] == 6 for r in ranking)
    assert ranking[0]["amount"] == 1.5  # sharpening beats the plain bilinear frame on these images


def test_the_command_prints_the_winner(tiny_cifar, capsys):
    assert main(["--data", str(tiny_cifar), "--images", "8", "--sigmas", "1.0", "--amounts", "0.5,2.0"]) == 0
    out = capsys.readouterr().out
    assert "best on 8 training images: sigma 1.0, amount" in out
