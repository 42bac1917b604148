"""`entrozip demo` codes the bundled photo losslessly, close to the ideal size."""
from entrozip.demo import run


def test_demo_on_bundled_photo():
    lines = []
    rows = run(threads=1, repeats=1, out=lines.append)
    assert "kodim23.png, 768x512" in lines[0]
    assert len(rows) == 2
    for row in rows:
        assert row["lossless"]
        assert 0 <= row["overhead"] < 0.01  # a 1.2 MB workload: within 1 % of the ideal
        assert row["encode_MBps"] > 0 and row["decode_MBps"] > 0
    assert rows[1]["ratio"] > rows[0]["ratio"] * 1.5  # the residual model is the better model


def test_demo_image_codec_rows():
    from entrozip.demo import run_image

    lines = []
    rows = run_image(qualities=(2, 7), threads=1, out=lines.append)
    assert "weights" in lines[0] and ("UNTRAINED" in lines[0] or "trained" in lines[0])
    assert [r["quality"] for r in rows] == [2, 7]
    for r in rows:
        assert r["shape_ok"] and r["bpp"] > 0 and r["encode_s"] > 0 and r["decode_s"] > 0
        assert 0 < r["psnr"] < 100
