"""The ``vcam-sharpen`` command line: thin click wrappers, one library call each, and all terminal text.

Library code raises :class:`~vcam_sharpen.core.errors.UserError` for anything the user can
fix; :mod:`.app` turns it into one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

from . import daemon, perf, probe, quality, web  # noqa: F401  (each registers its commands on the group)
from .app import cli


def main() -> None:
    cli(prog_name="vcam-sharpen")
