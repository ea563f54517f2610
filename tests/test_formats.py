"""Every image format a folder may hold comes back in its own form: unchanged files byte
for byte, changed ones with their encoding, ICC profile, frames and pages, and the EXIF
the metadata policy keeps (mosaicgan.imagefile, mosaicgan.exif, mosaicgan.containers)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import ExifTags, Image, ImageCms

from mosaicgan import containers, exif
from mosaicgan.cli import main
from mosaicgan.imagefile import read_document, webp_quality
from mosaicgan.imageio import read_metadata

from .conftest import photo

BOX = (40, 32, 64, 48)  # x, y, w, h: what every test mosaics
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def picture(shape=(160, 192)) -> np.ndarray:
    return np.ascontiguousarray(photo("chelsea")[:shape[0], :shape[1]])


def box_mask(shape, grow: int = 0) -> np.ndarray:
    x, y, w, h = BOX
    mask = np.zeros(shape[:2], bool)
    mask[max(y - grow, 0):y + h + grow, max(x - grow, 0):x + w + grow] = True
    return mask


def output_of(src: Path, out_dir: Path) -> Path:
    (out,) = [p for p in out_dir.rglob("*") if p.is_file() and p.suffix == src.suffix
              and p.stem.startswith(src.stem) and not p.name.startswith(".")]
    return out


def mosaic(src: Path, tmp_path: Path, *extra) -> Path:
    out_dir = tmp_path / "out"
    result = run("mosaic", src, "-o", out_dir, "--box", ",".join(map(str, BOX)), "--block", "8",
                 *extra)
    assert result.exit_code == 0, result.output
    return output_of(src, out_dir)


def rich_exif(orientation: int = 1) -> bytes:
    """EXIF with a place, serial numbers, an owner, an artist, a capture time, a camera and
    a thumbnail (IFD1, a JPEG)."""
    ex = Image.Exif()
    ex[0x010F], ex[0x0110], ex[0x013B], ex[0x8298] = "Canon", "EOS", "Jane Artist", "(c) J"
    if orientation != 1:
        ex[0x0112] = orientation
    sub = ex.get_ifd(ExifTags.IFD.Exif)
    sub[0x9003] = "2020:01:02 03:04:05"  # DateTimeOriginal
    sub[0xA430], sub[0xA431], sub[0xA435] = "Owner Name", "BODY123", "LENS456"
    gps = ex.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)
    directory = exif.parse(ex.tobytes())
    buf = io.BytesIO()
    Image.fromarray(picture((16, 16))).save(buf, "JPEG")
    directory.thumbnail_ifd = [exif.Entry(0x0103, 3, 1, (6).to_bytes(2, "little"))]
    directory.thumbnail = buf.getvalue()
    return exif.serialize(directory)


SAVERS = {
    "png": ("a.png", {"icc_profile": ICC}),
    "jpeg420": ("a.jpg", {"quality": 85, "subsampling": 2, "icc_profile": ICC}),
    "jpeg444": ("a.jpg", {"quality": 85, "subsampling": 0}),
    "webp_lossless": ("a.webp", {"lossless": True, "icc_profile": ICC}),
    "webp_lossy": ("a.webp", {"quality": 70}),
    "tiff": ("a.tif", {"compression": "tiff_lzw", "icc_profile": ICC}),
    "avif": ("a.avif", {"quality": 80}),
    "heic": ("a.heic", {"quality": 80}),
}
LOSSLESS = {"png", "webp_lossless", "tiff"}


def saved(tmp_path: Path, kind: str, image: np.ndarray | None = None, **more) -> Path:
    name, kwargs = SAVERS[kind]
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(picture() if image is None else image).save(path, **kwargs, **more)
    return path


@pytest.mark.parametrize("kind", list(SAVERS))
def test_a_mosaic_keeps_the_format_and_the_pixels_outside(tmp_path, kind):
    src = saved(tmp_path, kind)
    before = read_document(src)
    out = mosaic(src, tmp_path)
    after = read_document(out)
    assert after.format == before.format
    old, new = before.frames[0].astype(int), after.frames[0].astype(int)
    inside = box_mask(old.shape)
    assert np.abs(new - old)[inside].mean() > 3  # the box was mosaiced
    if kind in LOSSLESS:
        np.testing.assert_array_equal(new[~inside], old[~inside])
    else:
        # away from the 16 px blocks the box touches; today's re-encoding (JPEG quality 95)
        # is off by 0.44 (4:2:0) and 1.07 (4:4:4) on average there, and by up to 21 levels
        far = ~box_mask(old.shape, grow=16)
        error = np.abs(new - old)[far]
        limit = {"jpeg420": 0.1, "jpeg444": 0.1}.get(kind, 3.0)
        assert error.mean() < limit, (kind, error.mean())
    if kind.startswith("jpeg"):
        assert after.encoding["qtables"] == before.encoding["qtables"]
        assert after.encoding["subsampling"] == before.encoding["subsampling"]
    if SAVERS[kind][1].get("icc_profile"):
        assert after.icc == ICC


def test_a_jpeg_is_written_in_its_stored_orientation(tmp_path):
    stored = picture((160, 192))
    src = saved(tmp_path, "jpeg420", stored, exif=rich_exif(orientation=6))
    before = read_document(src)
    assert before.frames[0].shape == (192, 160, 3)  # read upright
    out = mosaic(src, tmp_path)
    with Image.open(out) as im:
        assert im.size == (192, 160) and im.getexif()[0x0112] == 6
    after = read_document(out)
    upright_box = np.zeros(before.frames[0].shape[:2], bool)
    # the box is in upright coordinates
    x, y, w, h = BOX
    upright_box[max(y - 16, 0):y + h + 16, max(x - 16, 0):x + w + 16] = True
    error = np.abs(after.frames[0].astype(int) - before.frames[0].astype(int))[~upright_box]
    assert error.mean() < 0.1


def test_lossy_webp_keeps_about_its_quality(tmp_path):
    src = saved(tmp_path, "webp_lossy")
    assert not containers.webp_is_lossless(src.read_bytes())
    assert abs(webp_quality(read_document(src)) - 70) <= 12
    out = mosaic(src, tmp_path)
    assert not containers.webp_is_lossless(out.read_bytes())
    assert containers.webp_is_lossless(mosaic(saved(tmp_path, "webp_lossless"),
                                              tmp_path / "2").read_bytes())


@pytest.mark.parametrize("kind", [*SAVERS, "gif", "tiff_pages"])
def test_a_file_with_nothing_to_change_is_copied_byte_for_byte(tmp_path, kind,
                                                               no_detections):
    if kind == "gif":
        src = animated_gif(tmp_path)
    elif kind == "tiff_pages":
        src = multipage_tiff(tmp_path)
    else:
        src = saved(tmp_path, kind)
    result = run("mosaic", src, "-o", tmp_path / "out", "--where", "face")
    assert result.exit_code == 0, result.output
    assert "no region found" in result.output
    assert output_of(src, tmp_path / "out").read_bytes() == src.read_bytes()


def exif_of(path: Path) -> Image.Exif:
    with Image.open(path) as im:
        return im.getexif()


@pytest.mark.parametrize("kind", ["jpeg420", "png", "webp_lossless"])
@pytest.mark.parametrize("change", [True, False])
def test_the_default_drops_place_serials_names_and_thumbnail(tmp_path, kind, change,
                                                              no_detections):
    src = saved(tmp_path, kind, exif=rich_exif())
    if change:
        out = mosaic(src, tmp_path)
    else:
        assert run("mosaic", src, "-o", tmp_path / "out", "--where", "face").exit_code == 0
        out = output_of(src, tmp_path / "out")
        # only metadata went: the coded image is the input's, byte for byte
        np.testing.assert_array_equal(read_document(out).frames[0],
                                      read_document(src).frames[0])
        if kind == "jpeg420":
            data, original = out.read_bytes(), src.read_bytes()
            sos = containers.jpeg_segments(original)[1]
            assert data.endswith(original[sos:])
    ex = exif_of(out)
    assert ex[0x010F] == "Canon" and ex[0x8298] == "(c) J" and 0x013B not in ex
    sub = ex.get_ifd(ExifTags.IFD.Exif)
    assert sub[0x9003] == "2020:01:02 03:04:05"
    assert not {0xA430, 0xA431, 0xA435} & set(sub)
    assert not ex.get_ifd(ExifTags.IFD.GPSInfo)
    assert not ex.get_ifd(ExifTags.IFD.IFD1)
    assert b"BODY123" not in out.read_bytes() and b"Jane Artist" not in out.read_bytes()
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SAVERS[kind][1]["icc_profile"]


def test_keep_keeps_everything_and_strip_nothing(tmp_path):
    src = saved(tmp_path, "jpeg420", exif=rich_exif(orientation=6))
    kept = mosaic(src, tmp_path / "keep", "--keep-metadata")
    ex = exif_of(kept)
    assert ex[0x013B] == "Jane Artist" and ex[0x0112] == 6
    assert ex.get_ifd(ExifTags.IFD.Exif)[0xA431] == "BODY123"
    assert ex.get_ifd(ExifTags.IFD.GPSInfo)[1] == "N"
    assert ex.get_ifd(ExifTags.IFD.IFD1)  # the thumbnail: the user asked for everything
    stripped = mosaic(src, tmp_path / "strip", "--strip-metadata")
    with Image.open(stripped) as im:
        assert "exif" not in im.info and im.info.get("icc_profile") == ICC
        assert im.size == (160, 192)  # the orientation went into the pixels
    upright = read_document(src).frames[0].astype(int)
    far = ~box_mask(upright.shape, grow=16)
    assert np.abs(read_document(stripped).frames[0].astype(int) - upright)[far].mean() < 1


def multipage_tiff(tmp_path: Path) -> Path:
    pages = [picture(), np.roll(picture(), 50, 1), picture()[::-1].copy()]
    path = tmp_path / "in" / "pages.tif"
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(pages[0]).save(path, compression="tiff_adobe_deflate", save_all=True,
                                   append_images=[Image.fromarray(p) for p in pages[1:]])
    return path


def test_every_page_of_a_multipage_tiff(tmp_path):
    src = multipage_tiff(tmp_path)
    out = mosaic(src, tmp_path)
    before, after = read_document(src), read_document(out)
    assert len(after.frames) == 3
    assert after.pages[0]["compression"] == "tiff_adobe_deflate"
    inside = box_mask(before.frames[0].shape)
    for old, new in zip(before.frames, after.frames, strict=True):
        np.testing.assert_array_equal(new[~inside], old[~inside])
        assert np.abs(new.astype(int) - old)[inside].mean() > 3


def animated_gif(tmp_path: Path) -> Path:
    frames = [Image.fromarray(np.roll(picture(), 24 * i, 1)).quantize(48) for i in range(3)]
    path = tmp_path / "in" / "anim.gif"
    path.parent.mkdir(exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 200],
                   loop=0, disposal=2)
    return path


def animated_webp(tmp_path: Path) -> Path:
    frames = [Image.fromarray(np.roll(picture(), 24 * i, 1)) for i in range(3)]
    path = tmp_path / "in" / "anim.webp"
    path.parent.mkdir(exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[80, 120, 200],
                   loop=3, lossless=True)
    return path


@pytest.mark.parametrize("make", [animated_gif, animated_webp])
def test_every_frame_of_an_animation_with_its_timing(tmp_path, make):
    src = make(tmp_path)
    out = mosaic(src, tmp_path)
    before, after = read_document(src), read_document(out)
    assert len(after.frames) == 3
    assert [p["duration"] for p in after.pages] == [80, 120, 200]
    assert after.loop == before.loop
    if before.format == "GIF":
        assert [p["disposal"] for p in after.pages] == [2, 2, 2]
    inside = box_mask(before.frames[0].shape)
    for old, new in zip(before.frames, after.frames, strict=True):
        np.testing.assert_array_equal(new[~inside], old[~inside])
        assert np.abs(new.astype(int) - old)[inside].mean() > 3


def test_a_region_refused_in_one_frame_stays_in_every_frame(tmp_path, monkeypatch):
    """The restore of an animation: frame 1's region is refused by the gate, so the
    overlapping region restored in frames 0 and 2 is put back as the input had it."""
    from mosaicgan.jobs import restore as job
    from mosaicgan.models.restorer import RegionOutcome, RestoreResult

    src = animated_webp(tmp_path)
    calls = []

    def fake_restore(image, restorer, mask=None):
        out = image.copy()
        x, y, w, h = BOX
        out[y:y + h, x:x + w] = 255 - out[y:y + h, x:x + w]
        out[120:128, 150:158] = 0  # a second region, apart from the first
        refused = len(calls) == 1
        calls.append(image)
        if refused:
            return RestoreResult(image.copy(), [RegionOutcome(BOX, False, ["face"])])
        return RestoreResult(out, [RegionOutcome(BOX, True),
                                   RegionOutcome((150, 120, 8, 8), True)])

    class FakeRestorer:
        source = "fake"

    monkeypatch.setattr(job, "load_restorer", lambda *a, **k: FakeRestorer())
    monkeypatch.setattr(job, "restore_image", fake_restore)
    report = job.restore_files([src], tmp_path / "out", log=lambda _: None)
    assert report.ok and len(calls) == 3
    out = report.written[0]
    before, after = read_document(src), read_document(out)
    other = np.zeros(before.frames[0].shape[:2], bool)
    other[120:128, 150:158] = True
    for i, (old, new) in enumerate(zip(before.frames, after.frames, strict=True)):
        # the refused box as the input had it in every frame; the other region restored
        np.testing.assert_array_equal(new[~other], old[~other])
        assert (new[other] == 0).all() == (i != 1)
    meta = read_metadata(out)
    assert meta["withheld"] == [[0, *BOX], [2, *BOX]]
    assert meta["synthesized"] == [[0, 150, 120, 8, 8], [2, 150, 120, 8, 8]]


def test_restore_records_what_it_did_in_a_jpeg(tmp_path, monkeypatch):
    from mosaicgan.jobs import restore as job
    from mosaicgan.models.restorer import RegionOutcome, RestoreResult

    def fake_restore(image, restorer, mask=None):
        out = image.copy()
        out[:8, :8] = 0
        return RestoreResult(out, [RegionOutcome((0, 0, 8, 8), True)])

    class FakeRestorer:
        source = "fake"

    monkeypatch.setattr(job, "load_restorer", lambda *a, **k: FakeRestorer())
    monkeypatch.setattr(job, "restore_image", fake_restore)
    src = saved(tmp_path, "jpeg420", exif=rich_exif())
    report = job.restore_files([src], tmp_path / "out", log=lambda _: None)
    (out,) = report.written
    assert out.suffix == ".jpg"
    assert read_metadata(out)["synthesized"] == [[0, 0, 8, 8]]
    assert exif_of(out).get_ifd(ExifTags.IFD.Exif)[0x9003] == "2020:01:02 03:04:05"


def test_a_folder_holds_every_format(tmp_path):
    src = multipage_tiff(tmp_path)
    animated_gif(tmp_path)
    saved(tmp_path, "heic")
    saved(tmp_path, "avif")
    result = run("mosaic", src.parent, "-o", tmp_path / "out", "--box", "1,1,8,8")
    assert result.exit_code == 0, result.output
    names = sorted(p.suffix for p in (tmp_path / "out").rglob("*")
                   if p.is_file() and not p.name.startswith("."))
    assert [s for s in names if s in {".avif", ".gif", ".heic", ".tif"}] == \
        [".avif", ".gif", ".heic", ".tif"]
