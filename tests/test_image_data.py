"""Image loading, saving and grids: real files written and read back with PIL."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from muse.errors import DataError
from muse.image.data import (
    load_digits_images,
    load_image,
    load_image_folder,
    load_skimage_patches,
    save_image,
)
from muse.image.grid import make_grid, save_grid, save_strip


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "pics"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    # 30x10: red | green | blue thirds -> centre crop is pure green
    arr = np.zeros((10, 30, 3), np.uint8)
    arr[:, :10, 0] = 255
    arr[:, 10:20, 1] = 255
    arr[:, 20:, 2] = 255
    Image.fromarray(arr).save(root / "cats" / "thirds.png")
    Image.fromarray(np.full((12, 12), 128, np.uint8)).save(root / "dogs" / "grey.jpg", quality=100)
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent -> white background
    Image.fromarray(rgba).save(root / "clear.png")
    (root / "broken.png").write_bytes(b"not really a png")
    (root / "notes.txt").write_text("hello")
    return root


def test_folder_loads_crops_and_reports_skipped(folder):
    x, report = load_image_folder(folder, size=10)
    assert x.shape == (3, 3, 10, 10) and x.dtype == torch.float32
    assert report.files == ["cats/thirds.png", "clear.png", "dogs/grey.jpg"]
    skipped = dict(report.skipped)
    assert set(skipped) == {"broken.png", "notes.txt"}
    assert "PIL" in skipped["broken.png"]
    assert "broken.png" in str(report)
    thirds, clear, grey = x
    assert torch.allclose(thirds[1], torch.ones(10, 10), atol=0.02)  # centre crop kept the green third
    assert thirds[0].max() < -0.95 and thirds[2].max() < -0.95
    assert torch.allclose(clear, torch.ones_like(clear), atol=1e-6)  # transparent -> white
    assert abs(grey.mean().item() - (128 / 255 * 2 - 1)) < 0.02
    assert report.classes == ["cats", "dogs"] and report.labels == [0, -1, 1]


def test_folder_grey_and_not_recursive(folder):
    x, report = load_image_folder(folder, size=6, channels=1, recursive=False)
    assert x.shape == (1, 1, 6, 6) and report.files == ["clear.png"]
    assert x.min() >= -1 and x.max() <= 1


def test_empty_or_unreadable_folder_is_a_data_error(tmp_path):
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match="empty_dir: no readable images found$"):
        load_image_folder(tmp_path / "empty_dir", size=8)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"\x00\x01")
    with pytest.raises(DataError, match=r"bad: no readable images found \(1 unreadable"):
        load_image_folder(bad, size=8)
    with pytest.raises(DataError, match="missing.*does not exist"):
        load_image_folder(tmp_path / "missing", size=8)


def test_digits_are_scaled_sklearn_digits():
    from sklearn.datasets import load_digits

    x8, y = load_digits_images(size=8)
    ref = load_digits()
    assert x8.shape == (1797, 1, 8, 8) and y.shape == (1797,)
    assert torch.allclose(x8[:, 0], torch.from_numpy(ref.images / 8.0 - 1.0).float(), atol=1e-6)
    assert torch.equal(y, torch.from_numpy(ref.target))
    x32, _ = load_digits_images(size=32)
    assert x32.shape == (1797, 1, 32, 32)
    assert x32.min() >= -1 and x32.max() <= 1 and x32.max() > 0.9


def test_skimage_patches_are_seeded_crops():
    a = load_skimage_patches(24, 6, seed=3, names=("chelsea", "brick"))
    b = load_skimage_patches(24, 6, seed=3, names=("chelsea", "brick"))
    c = load_skimage_patches(24, 6, seed=4, names=("chelsea", "brick"))
    assert a.shape == (6, 3, 24, 24) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    grey = load_skimage_patches(16, 2, seed=0, names=("brick",), channels=1)
    assert grey.shape == (2, 1, 16, 16)


def test_skimage_missing_names_warn_or_fail():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = load_skimage_patches(8, 2, seed=0, names=("no_such_picture", "coffee"))
    assert x.shape == (2, 3, 8, 8)
    assert any("no_such_picture" in str(w.message) for w in caught)
    with pytest.raises(DataError, match="no_such_picture"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_skimage_patches(8, 2, seed=0, names=("no_such_picture",))


def test_image_round_trip_and_resize(tmp_path):
    img = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    path = save_image(img, tmp_path / "sub" / "img.png")
    back = load_image(path)
    assert back.shape == (1, 3, 20, 30)
    assert torch.equal(back, torch.round(img * 255) / 255)  # exact up to 8-bit quantisation
    assert load_image(path, size=15).shape == (1, 3, 10, 15)  # longer side 15, aspect kept
    with Image.open(path) as im:
        assert im.size == (30, 20) and im.mode == "RGB"


def test_unreadable_or_missing_image_names_the_file(tmp_path):
    bad = tmp_path / "style.jpg"
    bad.write_text("definitely not a jpeg")
    with pytest.raises(DataError, match=r"style\.jpg: not an image PIL can read"):
        load_image(bad)
    with pytest.raises(DataError, match=r"nope\.png: image file does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(DataError, match=r"out\.xyz: unknown image file extension"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.xyz")


def test_grid_layout_and_pixels(tmp_path):
    imgs = torch.rand(5, 3, 6, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    path = save_grid(imgs, tmp_path / "grid.png", nrow=3, padding=2)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (3 * (4 + 2) + 2, 2 * (6 + 2) + 2)
        arr = np.asarray(im)
    # image 4 sits in row 1, column 1
    tile = arr[2 + 8: 2 + 8 + 6, 2 + 6: 2 + 6 + 4]
    expected = ((imgs[4].permute(1, 2, 0) + 1) / 2 * 255 + 0.5).to(torch.uint8).numpy()
    assert np.array_equal(tile, expected)
    assert arr[0].max() == 0  # padding is black
    assert make_grid(imgs).shape == (2 * 8 + 2, 3 * 6 + 2, 3)  # default: near-square, 3 per row


def test_grey_grid_and_strips(tmp_path):
    with Image.open(save_grid(torch.zeros(4, 1, 5, 5), tmp_path / "g.png", padding=0)) as im:
        assert im.mode == "L" and im.size == (10, 10)
        assert (np.asarray(im) == 128).all()  # 0 in [-1, 1] is mid-grey
    with Image.open(save_strip(torch.zeros(7, 3, 8, 8), tmp_path / "walk.png")) as im:
        assert im.size == (7 * 10 + 2, 10 + 2)
    with Image.open(save_strip(torch.zeros(2, 7, 3, 8, 8), tmp_path / "walks.png")) as im:
        assert im.size == (7 * 10 + 2, 2 * 10 + 2)
    with pytest.raises(DataError, match="expected images"):
        save_grid(torch.zeros(2, 2, 4, 4), tmp_path / "x.png")
