"""Daemon commands (start, run, stop, status, toggle, doctor, list-devices, install-service, config)."""

from .cli import cli  # noqa: F401  (commands below register on this group)
