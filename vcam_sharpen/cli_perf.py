"""Speed commands (export, bench)."""

from .cli import cli  # noqa: F401  (commands below register on this group)
