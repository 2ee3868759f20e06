"""The PNG line chart, read back pixel by pixel. No layout constants are imported: the plot area is found
in the image itself (the bounding box of its frame), so the tests hold when margins change."""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.report.chart import Series, _range, _ticks, decode_png_rgb, line_chart_png

RED, BLUE, GREEN = (220, 30, 40), (30, 90, 220), (20, 160, 60)
Pixel = tuple[int, int]
Image = list[list[tuple[int, int, int]]]


def _image(png: bytes) -> Image:
    _, _, rows = decode_png_rgb(png)
    return [[(row[i], row[i + 1], row[i + 2]) for i in range(0, len(row), 3)] for row in rows]


def _where(image: Image, color: tuple[int, int, int]) -> set[Pixel]:
    return {(x, y) for y, row in enumerate(image) for x, c in enumerate(row) if c == color}


def _bbox(pixels: Iterable[Pixel]) -> tuple[int, int, int, int]:
    xs, ys = zip(*pixels, strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def _largest_component(pixels: set[Pixel]) -> set[Pixel]:
    """The biggest 8-connected blob: a drawn line, as opposed to the legend swatch and letters."""
    left, best = set(pixels), set[Pixel]()
    while left:
        stack, blob = [left.pop()], set[Pixel]()
        while stack:
            x, y = stack.pop()
            blob.add((x, y))
            for n in ((x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)):
                if n in left:
                    left.remove(n)
                    stack.append(n)
        best = max(best, blob, key=len)
    return best


def _plot_frame(image: Image) -> tuple[int, int, int, int]:
    """The box of the non-series colour with the longest horizontal run: the axis frame (or its grid)."""
    longest: dict[tuple[int, int, int], int] = {}
    for row in image:
        run = 1
        for a, b in itertools.pairwise(row):
            run = run + 1 if a == b else 1
            if b not in {(255, 255, 255), RED, BLUE, GREEN} and run > longest.get(b, 0):
                longest[b] = run
    frame_color = max(longest, key=lambda c: longest[c])
    return _bbox(_where(image, frame_color))


DIAGONAL = Series("diagonal", ((0.0, 0.0), (10.0, 10.0)), RED)


def test_png_chunks_crcs_and_rows_check_out_independently() -> None:
    png = line_chart_png([DIAGONAL], title="Check", width=321, height=157)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (321, 157, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * 321
    assert len(raw) == stride * 157
    assert all(raw[y * stride] == 0 for y in range(157))
    width, height, rows = decode_png_rgb(png)
    assert (width, height) == (321, 157)
    assert rows == [raw[y * stride + 1 : (y + 1) * stride] for y in range(157)]


@pytest.mark.parametrize(
    "points",
    [((0.0, 0.0), (10.0, 10.0)), ((-10.0, -1000.0), (10.0, 500.0)), ((19e6, 1.2e3), (19.1e6, 3.5e6))],
)
def test_a_rising_line_runs_from_the_plot_lower_left_to_its_upper_right(points: tuple[Pixel, ...]) -> None:
    image = _image(line_chart_png([Series("up", points, RED)]))
    left, top, right, bottom = _plot_frame(image)
    line = _largest_component(_where(image, RED))
    (lx, ly), (rx, ry) = min(line), max(line)
    # x has no padding, so the ends touch the frame's sides; y is padded a little inside it
    assert abs(lx - left) <= 2 and abs(rx - right) <= 2
    assert bottom - 0.15 * (bottom - top) <= ly <= bottom
    assert top <= ry <= top + 0.15 * (bottom - top)
    # every pixel of the 2 px line is within 2 px of the straight segment between its ends
    for x, y in line:
        distance = abs((ry - ly) * (x - lx) - (rx - lx) * (y - ly)) / math.hypot(rx - lx, ry - ly)
        assert distance <= 2.0, (x, y)


def test_a_constant_series_lies_on_one_narrow_band_mid_plot() -> None:
    flat = Series("flat", tuple((float(x), 5.0) for x in range(11)), BLUE)
    image = _image(line_chart_png([flat]))
    left, top, right, bottom = _plot_frame(image)
    x0, y0, x1, y1 = _bbox(_largest_component(_where(image, BLUE)))
    assert 1 <= y1 - y0 <= 2  # the line is 2 px thick, and flat
    assert x1 - x0 >= 0.95 * (right - left)
    assert abs((y0 + y1) / 2 - (top + bottom) / 2) <= 0.1 * (bottom - top)


def test_markers_are_grey_vertical_lines_at_their_x() -> None:
    plain = _image(line_chart_png([DIAGONAL]))
    marked = _image(line_chart_png([DIAGONAL], markers=[2.5, 7.5]))
    left, top, right, bottom = _plot_frame(plain)
    added = {(x, y) for y, row in enumerate(plain) for x, c in enumerate(row) if marked[y][x] != c}
    columns = sorted({x for x, _ in added})
    assert len(columns) == 2
    for column, fraction in zip(columns, (0.25, 0.75), strict=True):
        assert abs(column - (left + fraction * (right - left))) <= 2
        rows = [y for x, y in added if x == column]
        assert len(rows) >= 0.9 * (bottom - top)
        assert all(marked[y][column] == marked[rows[0]][column] for y in rows)
    r, g, b = marked[rows[0]][columns[0]]
    assert r == g == b < 255


def test_markers_outside_the_x_range_or_not_finite_are_not_drawn() -> None:
    plain = line_chart_png([DIAGONAL])
    assert line_chart_png([DIAGONAL], markers=[-1.0, 11.0, math.nan, math.inf]) == plain


def test_the_legend_shows_each_label_in_its_series_colour_above_the_plot() -> None:
    series = [DIAGONAL, Series("falling", ((0.0, 10.0), (10.0, 0.0)), BLUE), Series("x", (), GREEN)]
    image = _image(line_chart_png(series, title="Two lines"))
    _, top, _, _ = _plot_frame(image)
    for s in series:
        above = {(x, y) for x, y in _where(image, s.color) if y < top}
        # more than the 12x2 swatch: the label's letters are in the series' colour too
        assert len(above) > 24, s.label
    # the series with no points has a legend entry and nothing inside the plot
    assert all(y < top for _, y in _where(image, GREEN))


def test_no_series_draws_axes_in_grey_only() -> None:
    image = _image(line_chart_png([], title="Nothing yet", markers=[0.5], x_label="block", y_label="usd"))
    colours = {c for row in image for c in row}
    assert all(r == g == b for r, g, b in colours)
    assert len(colours) > 2  # background, frame, grid, text: not a blank image
    left, top, right, bottom = _plot_frame(image)
    assert right - left > 600 and bottom - top > 250


def test_a_single_point_is_a_dot_in_the_middle_of_the_plot() -> None:
    image = _image(line_chart_png([Series("one", ((7.0, 3.0),), GREEN)], width=200, height=120))
    left, top, right, bottom = _plot_frame(image)
    dot = _largest_component(_where(image, GREEN))
    x0, y0, x1, y1 = _bbox(dot)
    assert 9 <= len(dot) <= 25
    assert abs((x0 + x1) / 2 - (left + right) / 2) <= 2
    assert abs((y0 + y1) / 2 - (top + bottom) / 2) <= 2


@pytest.mark.parametrize(("width", "height"), [(199, 420), (900, 119), (0, 0)])
def test_a_chart_below_200x120_is_refused(width: int, height: int) -> None:
    with pytest.raises(ValueError, match=rf"{width}x{height} is too small"):
        line_chart_png([DIAGONAL], width=width, height=height)


def test_the_smallest_chart_renders_at_its_size() -> None:
    width, height, rows = decode_png_rgb(line_chart_png([DIAGONAL], width=200, height=120, title="t"))
    assert (width, height) == (200, 120)
    assert len(rows) == 120 and {len(row) for row in rows} == {600}


def test_nan_and_infinite_points_are_skipped() -> None:
    noisy = Series(
        "diagonal", ((0.0, 0.0), (3.0, math.nan), (math.inf, 4.0), (5.0, -math.inf), (10.0, 10.0)), RED
    )
    assert line_chart_png([noisy]) == line_chart_png([DIAGONAL])
    only_nan = Series("nan", ((math.nan, 1.0), (2.0, math.nan)), BLUE)
    image = _image(line_chart_png([only_nan]))
    _, top, _, _ = _plot_frame(image)
    assert _where(image, BLUE) and all(y < top for _, y in _where(image, BLUE))


def _rechunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """`png` with the body of chunk `kind` replaced and a correct CRC: only the content is wrong."""
    pos = 8
    while True:
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == kind:
            chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
            return png[:pos] + chunk + png[pos + 12 + length :]
        pos += 12 + length


def test_decode_rejects_a_corrupted_or_foreign_png() -> None:
    png = line_chart_png([DIAGONAL], width=200, height=120)
    flipped = bytearray(png)
    flipped[60] ^= 0x01  # inside the IDAT body (IHDR ends at byte 33)
    with pytest.raises(ValueError, match="bad CRC"):
        decode_png_rgb(bytes(flipped))
    with pytest.raises(ValueError, match="signature"):
        decode_png_rgb(b"GIF89a" + png[6:])
    with pytest.raises(ValueError, match="truncated"):
        decode_png_rgb(png[:-6])
    rgba = _rechunk(png, b"IHDR", struct.pack(">IIBBBBB", 200, 120, 8, 6, 0, 0, 0))
    with pytest.raises(ValueError, match="colour type 6"):
        decode_png_rgb(rgba)
    sub_filtered = _rechunk(png, b"IDAT", zlib.compress(b"\x01" + bytes(600) + b"\x00" * 601 * 119))
    with pytest.raises(ValueError, match="filter 1"):
        decode_png_rgb(sub_filtered)
    short = _rechunk(png, b"IDAT", zlib.compress(b"\x00" * 601 * 119))
    with pytest.raises(ValueError, match="expected"):
        decode_png_rgb(short)


def test_tick_labels_are_compact_at_1_2_5_steps() -> None:
    assert _ticks(0.0, 3.6e6, 8)[1] == ["0", "0.5M", "1.0M", "1.5M", "2.0M", "2.5M", "3.0M", "3.5M"]
    assert _ticks(1150.0, 1290.0, 4)[1] == ["1150", "1200", "1250"]
    assert _ticks(-0.013, 0.052, 8)[1] == ["-0.01", "0", "0.01", "0.02", "0.03", "0.04", "0.05"]
    assert _ticks(19_000_000.0, 19_007_000.0, 4)[1] == ["19000k", "19002k", "19004k", "19006k"]


@settings(max_examples=200)
@given(a=st.floats(-1e12, 1e12), b=st.floats(-1e12, 1e12), target=st.integers(2, 8))
def test_ticks_are_inside_the_axis_range_at_a_nice_step(a: float, b: float, target: int) -> None:
    lo, hi = _range([a, b], 0.05)
    ticks, labels = _ticks(lo, hi, target)
    assert 2 <= len(ticks) <= max(target, 5) and len(labels) == len(ticks)
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    # loose: the step is recovered from ticks near 1e12, but 1, 2, 5 and 10 are far apart
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-3
    tolerance = 1e-9 * max(abs(lo), abs(hi))
    assert lo - tolerance <= ticks[0] and ticks[-1] <= hi + tolerance


coordinates = st.one_of(st.floats(-1e15, 1e15), st.sampled_from([math.nan, math.inf, -math.inf]))


@settings(max_examples=40)
@given(
    points=st.lists(st.tuples(coordinates, coordinates), max_size=12),
    markers=st.lists(coordinates, max_size=3),
    width=st.integers(200, 260),
    height=st.integers(120, 160),
)
def test_any_finite_data_renders_a_decodable_png_of_the_asked_size(
    points: list[tuple[float, float]], markers: list[float], width: int, height: int
) -> None:
    png = line_chart_png([Series("s", tuple(points), RED)], width=width, height=height, markers=markers)
    decoded_width, decoded_height, rows = decode_png_rgb(png)
    assert (decoded_width, decoded_height, len(rows)) == (width, height, height)
