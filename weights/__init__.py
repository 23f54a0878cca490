"""Shipped checkpoints (installed as ``vcam_sharpen.weights``); see README for how each was made."""
