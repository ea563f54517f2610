import numpy as np
import pytest

from mosaicgan.errors import InputError
from mosaicgan.imageio import read_image, read_mask, read_metadata, write_image
from mosaicgan.walk import list_images


def test_roundtrip_png_with_metadata(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (13, 17, 3), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", image, metadata={"synthesized": [[1, 2, 3, 4]]})
    np.testing.assert_array_equal(read_image(path), image)
    assert read_metadata(path)["synthesized"] == [[1, 2, 3, 4]]
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary file left


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from PIL import Image

    def broken_save(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content,problem", [
    (b"", "not an image"),
    (b"hello, not an image", "not an image"),
])
def test_unreadable_files_name_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_truncated_png(tmp_path):
    good = write_image(tmp_path / "good.png",
                       np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="corrupt or truncated") as err:
        read_image(bad)
    assert "cut.png" in str(err.value)


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="holds no images"):
        list_images([tmp_path])
    with pytest.raises(InputError, match="no such file or folder"):
        list_images([tmp_path / "missing"])


def test_mask_of_wrong_size(tmp_path):
    path = write_image(tmp_path / "m.png", np.zeros((10, 20), np.uint8))
    assert read_mask(path, (20, 10)).shape == (10, 20)
    with pytest.raises(InputError, match="mask is 20x10, the image is 30x10"):
        read_mask(path, (30, 10))


def test_outputs_get_the_usual_file_mode_not_a_private_temp_files(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)
