import numpy as np
import pytest

from img2tex.arrays import median, percentile, unique, unique_inverse


@pytest.mark.parametrize("seed", range(20))
def test_order_statistics_equal_numpys(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    a = rng.integers(0, 256, size=n).astype(np.uint8) if seed % 2 else rng.normal(size=n) * 100
    assert median(a) == float(np.median(a))
    for q in (0, 0.5, 1, 25, 50, 75, 99, 100, float(rng.uniform(0, 100))):
        assert percentile(a, q) == float(np.percentile(a, q)), q
    assert np.array_equal(unique(a), np.unique(a))
    ints = rng.integers(0, 40, size=n)
    values, inverse = unique_inverse(ints)
    ref_values, ref_inverse = np.unique(ints, return_inverse=True)
    assert np.array_equal(values, ref_values) and np.array_equal(inverse, ref_inverse)


def test_two_dimensional_and_empty():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)[::-1]
    assert median(a) == float(np.median(a)) and percentile(a, 75) == float(np.percentile(a, 75))
    assert unique(np.zeros(0)).size == 0 and unique_inverse(np.zeros(0, dtype=np.int64))[0].size == 0


def test_predict_path_does_not_import_numpy_ma(tmp_path):
    """The point of the module: preprocessing an image and the well-formed filter leave
    numpy.ma unimported (it costs ~20 ms of start-up)."""
    import subprocess
    import sys

    from PIL import Image, ImageDraw

    im = Image.new("L", (120, 40), 255)
    ImageDraw.Draw(im).text((10, 10), "x + 1", fill=0)
    im.save(tmp_path / "f.png")
    code = (
        "import sys; from img2tex.images import ImageConfig, load_image, preprocess\n"
        f"preprocess(load_image({str(tmp_path / 'f.png')!r}), ImageConfig())\n"
        "print('numpy.ma' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
