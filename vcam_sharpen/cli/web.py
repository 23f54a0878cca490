"""Web commands: ``panel`` (the running daemon's control panel) and ``mos`` (prepare, serve, report, export,
import: a MOS study of the methods, ITU-T P.910 ACR)."""

from __future__ import annotations

import json
import math
import os
import sys
import webbrowser
from pathlib import Path

import click

from ..core.errors import UserError
from ..core.files import atomic_write, check_output, check_writable
from ..daemon import lifecycle
from ..quality import mos_stats, mos_store, mos_study
from ..web.mos_app import create_mos
from ..web.security import Guard
from ..web.server import bind, serve_foreground, url
from .app import cli, output_file
from .text import fixed

MOS_PORT = 8718


def _desktop() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


@cli.command("panel")
@click.option("--open/--no-open", "open_", default=None,
              help="Open it in the web browser; default: when there is a desktop session.")
def panel_cmd(open_) -> None:
    """Print (and open) the address of the running daemon's control panel."""
    st = lifecycle.status()
    if not st["running"]:
        raise UserError("vcam-sharpen is not running; start it with its control panel: vcam-sharpen start --panel")
    address = st.get("panel_url")
    if not address:
        raise UserError("the daemon runs without its control panel; restart it with it: vcam-sharpen stop, then "
                        "vcam-sharpen start --panel (or put panel = true in the config file)")
    click.echo(address)
    if open_ if open_ is not None else _desktop():
        webbrowser.open(address)


@cli.group("mos")
def mos() -> None:
    """A MOS study (ITU-T P.910 absolute category rating) of the sharpening methods, rated by people."""


def _optional_path(value: str | None, default: Path) -> Path | None:
    """``none`` -> None; unset -> ``default`` when it exists; else the path."""
    if value is None:
        return default if default.exists() else None
    return None if value.strip().lower() == "none" else Path(value).expanduser()


@mos.command("prepare")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Study folder; default: $XDG_DATA_HOME/vcam-sharpen/mos.")
@click.option("--video", default=None, metavar="FILE|none",
              help="Stills come from this clip, or demo (the built-in demo scene); default: "
                   "../shared/data/video/face_1280x720.mp4 when present; without it and Set5, demo.")
@click.option("--stills", type=click.IntRange(1, 20), default=2, show_default=True, help="Stills from the video.")
@click.option("--set5", default=None, metavar="DIR|none", help="Set5's folder; default: ../shared/data/sr/set5 "
              "when present.")
@click.option("--images", multiple=True, type=click.Path(path_type=Path), help="Also every image of this folder "
              "(repeatable).")
@click.option("--methods", default=mos_study.DEFAULT_METHODS, show_default=True, metavar="LIST",
              help="Comma-separated methods (model names and shipped tags, bilinear, unsharp); the untouched "
                   "original is always added as the hidden reference.")
@click.option("--no-trap", is_flag=True, help="Leave out the trap stimulus (the quality check).")
@click.option("--force", is_flag=True, help="Replace the study already in --out (its ratings stay in the database).")
def prepare_cmd(out, video, stills, set5, images, methods, no_trap, force) -> None:
    """Make the stimuli: each still through the 2x protocol and each method, under blind names."""
    def progress(content, label):
        click.echo(f"  {content}: {label}", err=True)

    typed = video is not None or set5 is not None or images
    video, set5 = _optional_path(video, mos_study.DEFAULT_VIDEO), _optional_path(set5, mos_study.DEFAULT_SET5)
    if video is None and set5 is None and not typed:
        video = Path(mos_study.DEMO)  # away from the checkout: the demo scene, shipped in the package
    manifest = mos_study.prepare(out=out, video=video, stills=stills, set5=set5, images=list(images),
                                 methods=methods, trap=not no_trap, force=force, progress=progress)
    folder = out or mos_study.default_dir()
    kinds = [s["kind"] for s in manifest["stimuli"]]
    click.echo(f"study {manifest['study']}: {len(kinds)} stimuli ({len(manifest['contents'])} contents x "
               f"{len(manifest['methods'])} methods incl. the hidden reference, {kinds.count('trap')} trap) in {folder}")
    click.echo("next: vcam-sharpen mos serve")


@mos.command("serve")
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Study folder; default: $XDG_DATA_HOME/vcam-sharpen/mos.")
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Ratings database; default: $XDG_DATA_HOME/vcam-sharpen/mos.sqlite.")
@click.option("--port", type=click.IntRange(0, 65535), default=MOS_PORT, show_default=True,
              help="Port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS",
              help="Address to listen on (another than loopback lets raters on the network take part).")
@click.option("--open", "open_", is_flag=True, help="Open the page in the web browser.")
def serve_cmd(folder, db, port, host, open_) -> None:
    """Serve the study page until Ctrl-C: each rater (a browser session) rates every stimulus once."""
    manifest = mos_study.load_manifest(folder)
    mos_store.check_db(db)
    sock = bind(host, port, what="mos")
    address = url(sock)
    click.echo(f"MOS study {manifest['study']} ({len(manifest['stimuli'])} stimuli): {address}  (Ctrl-C stops)")
    sys.stdout.flush()
    if open_:
        webbrowser.open(address)
    serve_foreground(create_mos(Guard(*sock.getsockname()[:2]), folder, db), sock)


def _study(store: mos_store.Store, study: str | None, folder: Path | None) -> str | None:
    """The study to report: ``all`` (None), the one named, the study folder's, or the database's only one."""
    if study == "all":
        return None
    if study:
        return study
    try:
        return mos_study.load_manifest(folder)["study"]
    except UserError:
        pass
    studies = store.studies()
    if len(studies) > 1:
        raise UserError(f"the database holds {len(studies)} studies ({', '.join(studies)}); pick one with --study "
                        "ID, or --study all")
    return studies[0] if studies else None


def _cell(x: float, fmt: str = "{:.2f}") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def mos_table(summary: dict) -> str:
    cols = [("method", -20), ("n", 5), ("MOS", 6), ("+/-95%", 7), ("DMOS", 6), ("+/-95%", 7), ("n(DMOS)", 8)]
    rows = [[r["method"], str(r["n"]), _cell(r["mos"]), _cell(r["ci95"]), _cell(r["dmos"]), _cell(r["dmos_ci95"]),
             str(r["dmos_n"])] for r in summary["rows"]]
    s = summary
    head = (f"{_n(s['ratings'], 'rating')} from {_n(s['raters'], 'rater')} ({s['flagged_raters']} flagged by the trap"
            + (f": their {_n(s['excluded_flagged'], 'rating')} left out" if s["excluded_flagged"] else "")
            + f"); {_n(s['traps'], 'trap rating')}; {_n(s['used'], 'rating')} used")
    foot = ("MOS: mean rating (5 Excellent .. 1 Bad) +/- the 95 % t-interval; DMOS (ITU-T P.910): per rater and "
            "content, rating - that rater's rating of the hidden reference + 5, averaged.")
    return "\n".join([head, fixed(cols, rows), foot])


@mos.command("report")
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Ratings database; default: $XDG_DATA_HOME/vcam-sharpen/mos.sqlite.")
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Study folder whose study is reported; default: $XDG_DATA_HOME/vcam-sharpen/mos.")
@click.option("--study", default=None, metavar="ID|all", help="Report this study (or all); default: the study folder's.")
@click.option("--include-flagged", is_flag=True, help="Keep the ratings of raters who failed the trap.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              callback=output_file, help="CSV file; default: mos-report.csv beside the database.")
@click.option("--chart", type=click.Path(path_type=Path, dir_okay=False), default=None, callback=output_file,
              help="PNG bar chart; default: mos-report.png beside the database.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def report_cmd(db, folder, study, include_flagged, csv_path, chart, as_json) -> None:
    """MOS +/- 95 % CI and DMOS per method; writes a CSV and a bar chart with error bars."""
    if chart is not None and chart.suffix.lower() != ".png":
        raise UserError(f"--chart {chart}: give a .png name")
    with mos_store.open_existing(db) as store:
        csv_path = csv_path or store.path.parent / "mos-report.csv"  # beside the database
        chart = chart or store.path.parent / "mos-report.png"
        for p, what in ((csv_path, "--csv"), (chart, "--chart")):
            if not p.parent.is_dir():
                raise UserError(f"{what} {p}: folder {p.parent} does not exist; create it first")
            check_output(p, what)
            check_writable(p, what)
        chosen = _study(store, study, folder)
        ratings = store.ratings(chosen)
    if not ratings:
        raise UserError(f"no ratings{' for study ' + chosen if chosen else ''} yet; collect some with: "
                        "vcam-sharpen mos serve")
    summary = mos_stats.summarize(ratings, include_flagged=include_flagged)
    mos_stats.write_csv(summary, csv_path)
    mos_stats.write_chart(summary, chart, title=f"study {chosen or 'all'}")
    if as_json:
        click.echo(json.dumps({"study": chosen, **summary, "csv": str(csv_path), "chart": str(chart)}, indent=2))
        return
    click.echo(f"study {chosen or 'all'}: " + mos_table(summary))
    click.echo(f"wrote {csv_path} and {chart}")


@mos.command("export")
@click.argument("out", type=click.Path(path_type=Path, dir_okay=False), callback=output_file)
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Ratings database; default: $XDG_DATA_HOME/vcam-sharpen/mos.sqlite.")
def export_cmd(out, db) -> None:
    """Write every rating and rater to OUT (JSON), to merge on another machine with mos import."""
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist; create it first")
    with mos_store.open_existing(db) as store:
        doc = store.export()
    atomic_write(out, json.dumps(doc, indent=1))
    click.echo(f"exported {len(doc['ratings'])} ratings from {len(doc['raters'])} raters to {out}")


@mos.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Ratings database; default: $XDG_DATA_HOME/vcam-sharpen/mos.sqlite.")
def import_cmd(files, db) -> None:
    """Merge ratings exported elsewhere (mos export); importing a file again adds nothing."""
    docs = []
    for f in files:  # every file checked before the database is touched
        doc = mos_store.read_export(f)
        mos_store.check_export(doc, str(f))
        docs.append((f, doc))
    with mos_store.Store(db) as store:
        for f, doc in docs:
            added, known = store.import_ratings(doc, str(f))
            click.echo(f"{f}: {added} ratings added, {known} already here")
