"""``--where face`` hides a face for good (issue 23, hole 7): every face box covered in
full, and a mosaic of at most FACE_CELLS cells across the face, whatever its size."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from mosaicgan.cli import main
from mosaicgan.imageio import read_image, read_mask, write_image
from mosaicgan.regions.detectors import FACE_MARGIN, find_faces
from mosaicgan.regions.masks import ellipse_mask
from mosaicgan.regions.strength import FACE_CELLS, face_block, face_sigma
from mosaicgan.video.hiding import TrackedMosaic

from .conftest import ASTRONAUT_FACE, photo
from .test_detect import astronaut_on_canvas


def cells_across(image: np.ndarray, face) -> int:
    """Mosaic cells met along the face box's middle row (a change of colour = a new cell)."""
    x, y, w, h = face
    row = image[y + h // 2, x:x + w].astype(int)
    return 1 + int((np.abs(np.diff(row, axis=0)).max(axis=1) > 0).sum())


def test_where_face_covers_the_astronaut_and_leaves_few_cells(tmp_path):
    write_image(tmp_path / "in" / "a.png", photo("astronaut"))
    result = CliRunner().invoke(main, ["mosaic", str(tmp_path / "in"), "-o",
                                       str(tmp_path / "out"), "--where", "face",
                                       "--regions", str(tmp_path / "regions")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    x, y, w, h = ASTRONAUT_FACE
    assert read_mask(tmp_path / "regions" / "a_regions.png")[y:y + h, x:x + w].all()
    out = read_image(tmp_path / "out" / "a_anonymised.png")
    # At most FACE_CELLS cells across the face, plus one cut by each edge of its box.
    assert cells_across(out, ASTRONAUT_FACE) <= FACE_CELLS + 2


def test_an_explicit_block_still_wins(tmp_path):
    write_image(tmp_path / "in" / "a.png", photo("astronaut"))
    result = CliRunner().invoke(main, ["mosaic", str(tmp_path / "in"), "-o",
                                       str(tmp_path / "out"), "--where", "face",
                                       "--block", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out" / "a_anonymised.png")
    assert cells_across(out, ASTRONAUT_FACE) >= ASTRONAUT_FACE[2] // 4


def hard_faces() -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """(image, face box): the astronaut's face near an image edge, mirrored, and turned (a
    face seen from the side is narrower than its detection box expects)."""
    wide, face = astronaut_on_canvas(80, (20, 200), (480, 640))  # near the left edge
    mirrored = np.ascontiguousarray(photo("astronaut")[:, ::-1])
    x, y, w, h = ASTRONAUT_FACE
    turned = cv2.resize(photo("astronaut"), (358, 512), interpolation=cv2.INTER_AREA)
    return [(wide, face), (mirrored, (512 - x - w, y, w, h)),
            (turned, (round(x * 0.7), y, round(w * 0.7), h))]


def test_off_centre_and_profile_faces_are_covered_in_full():
    for image, (fx, fy, fw, fh) in hard_faces():
        mask = find_faces(image).mask
        assert mask[fy:fy + fh, fx:fx + fw].all(), (fx, fy, fw, fh)


def test_the_block_and_the_blur_grow_with_the_face():
    # A region is the face's box grown by FACE_MARGIN on each side: the rule sizes the
    # block by the face inside it, not by the grown box.
    grown = 1 + 2 * FACE_MARGIN
    assert face_block((0, 0, round(1000 * grown), round(1000 * grown))) >= 1000 / FACE_CELLS
    assert face_block((0, 0, round(50 * grown), round(50 * grown))) * FACE_CELLS >= 50
    assert face_block((0, 0, 1400, 1400)) > face_block((0, 0, 140, 140))
    assert face_sigma((0, 0, 1400, 1400)) == pytest.approx(10 * face_sigma((0, 0, 140, 140)))


def test_video_faces_get_the_face_block():
    """TrackedMosaic with the face rule: the same few cells across a face in every frame."""
    frame = photo("astronaut")
    regions = find_faces(frame)
    processor = TrackedMosaic(lambda f: regions, block_rule=face_block)
    [out] = processor.push([frame], [0])
    assert cells_across(out, ASTRONAUT_FACE) <= FACE_CELLS + 2


def test_ellipse_faces_hold_the_whole_face_and_leave_the_corners():
    """--shape ellipse on real faces (the astronaut, off-centre, mirrored, turned): the
    labelled face in full (the ellipse in its box; of the box's corners, which are hair and
    collar, at most a few pixels left), the grown box's corners untouched, at the default
    margin and at 0."""
    for image, (fx, fy, fw, fh) in [(photo("astronaut"), ASTRONAUT_FACE), *hard_faces()]:
        boxes = find_faces(image)
        ellipses = find_faces(image, shape="ellipse")
        assert ellipses.boxes == boxes.boxes  # the same faces, only the mask's shape differs
        face = ellipse_mask(*image.shape[:2], (fx, fy, fw, fh))
        assert ellipses.mask[face].all(), (fx, fy, fw, fh)
        assert (~ellipses.mask[fy:fy + fh, fx:fx + fw]).sum() <= 4, (fx, fy, fw, fh)
        assert not (ellipses.mask & ~boxes.mask).any()  # inside the grown boxes...
        assert ellipses.mask.sum() < 0.85 * boxes.mask.sum()  # ...less their corners
        # With no margin the ellipse still holds every detected box whole.
        tight = find_faces(image, 0.0, "ellipse").mask
        for bx, by, bw, bh in find_faces(image, 0.0).boxes:
            assert tight[by:by + bh, bx:bx + bw].all()


def test_mosaic_cli_hides_the_ellipse_and_refuses_it_without_detections(tmp_path):
    image = photo("astronaut")
    write_image(tmp_path / "in" / "a.png", image)
    result = CliRunner().invoke(main, ["mosaic", str(tmp_path / "in"), "-o",
                                       str(tmp_path / "out"), "--where", "face", "--shape",
                                       "ellipse"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out" / "a_anonymised.png")
    changed = (out != image).any(axis=2)
    x, y, w, h = find_faces(image).boxes[0]
    assert cells_across(out, ASTRONAUT_FACE) <= FACE_CELLS + 2  # hidden as a box would be
    corner = max(2, w // 10)
    for cx, cy in ((x, y), (x + w - corner, y), (x, y + h - corner),
                   (x + w - corner, y + h - corner)):
        assert not changed[cy:cy + corner, cx:cx + corner].any()  # the corners as they were
    result = CliRunner().invoke(main, ["mosaic", str(tmp_path / "in"), "-o",
                                       str(tmp_path / "out2"), "--box", "1,1,9,9",
                                       "--shape", "ellipse"])
    assert result.exit_code == 2 and "--shape ellipse is for --where face" in result.output
