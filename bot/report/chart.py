"""Line charts as PNG bytes, drawn with the standard library alone. Pure.

The keeper runs on small hosts without a plotting stack, so this module rasterises the chart itself
(Bresenham lines, a 5x7 bitmap font) and writes the PNG by hand: one IDAT, filter 0, 8-bit RGB.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

_RGB = tuple[int, int, int]

MIN_WIDTH, MIN_HEIGHT = 200, 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_BACKGROUND: _RGB = (255, 255, 255)
_GRID: _RGB = (232, 232, 232)
_MARKER: _RGB = (170, 170, 170)
_AXIS: _RGB = (60, 60, 60)
_TEXT: _RGB = (40, 40, 40)

# Each glyph is 7 rows, top first; a row is one base-32 digit whose 5 bits are its pixels, 16 = leftmost.
# Lower case is drawn with the upper-case glyph; an unknown character shows as a box, not as nothing.
_GLYPHS: dict[str, str] = {
    "0": "ehjlphe", "1": "4c4444e", "2": "eh1248v", "3": "v2421he", "4": "26aiv22", "5": "vgu11he",
    "6": "68guhhe", "7": "v124888", "8": "ehhehhe", "9": "ehhf12c", "A": "ehhvhhh", "B": "uhhuhhu",
    "C": "ehggghe", "D": "sihhhis", "E": "vgguggv", "F": "vgguggg", "G": "ehgnhhf", "H": "hhhvhhh",
    "I": "e44444e", "J": "72222ic", "K": "hikokih", "L": "ggggggv", "M": "hrllhhh", "N": "hhpljhh",
    "O": "ehhhhhe", "P": "uhhuggg", "Q": "ehhhlid", "R": "uhhukih", "S": "fgge11u", "T": "v444444",
    "U": "hhhhhhe", "V": "hhhhha4", "W": "hhhllla", "X": "hha4ahh", "Y": "hha4444", "Z": "v1248gv",
    ".": "00000cc", ",": "0000c48", "-": "000v000", "+": "044v440", "%": "op248j3", "/": "01248g0",
    ":": "0cc0cc0", "(": "2488842", ")": "8422248", "=": "00v0v00", "_": "000000v", " ": "0000000",
}  # fmt: skip
_UNKNOWN_GLYPH = "vhhhhhv"
_GLYPH_W, _GLYPH_H, _ADVANCE = 5, 7, 6
_NICE_STEPS = (1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class Series:
    """One line of the chart: its legend label, its (x, y) points in drawing order, and its colour."""

    label: str
    points: tuple[tuple[float, float], ...]
    color: tuple[int, int, int]

    def __post_init__(self) -> None:
        if len(self.color) != 3 or not all(0 <= c <= 255 for c in self.color):
            raise ValueError(f"series {self.label!r}: colour {self.color} is not three bytes (0..255)")


class _Canvas:
    """An RGB raster; drawing outside it is clipped, so callers need not check bounds."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(_BACKGROUND) * (width * height))

    def fill(self, x: int, y: int, w: int, h: int, color: _RGB) -> None:
        x0, x1 = max(x, 0), min(x + w, self.width)
        run = bytes(color) * max(x1 - x0, 0)
        for row in range(max(y, 0), min(y + h, self.height)):
            start = (row * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    def line(self, a: tuple[int, int], b: tuple[int, int], color: _RGB, thickness: int = 2) -> None:
        """Bresenham, stamping a thickness-square at every step so steep and flat lines weigh the same."""
        (x, y), (x1, y1) = a, b
        dx, dy = abs(x1 - x), -abs(y1 - y)
        sx, sy = (1 if x < x1 else -1), (1 if y < y1 else -1)
        err = dx + dy
        while True:
            self.fill(x, y, thickness, thickness, color)
            if (x, y) == (x1, y1):
                return
            doubled = 2 * err  # both tests must see the error before either step changes it
            if doubled >= dy:
                err, x = err + dy, x + sx
            if doubled <= dx:
                err, y = err + dx, y + sy

    def text(self, x: int, y: int, text: str, color: _RGB, *, scale: int = 1, upward: bool = False) -> None:
        """Draw `text` from its top-left (x, y); `upward` turns it a quarter left, from its bottom-left."""
        for i, char in enumerate(text.upper()):
            for row, digit in enumerate(_GLYPHS.get(char, _UNKNOWN_GLYPH)):
                bits = int(digit, 32)
                for col in range(_GLYPH_W):
                    if bits & (16 >> col):
                        along, across = (i * _ADVANCE + col) * scale, row * scale
                        if upward:
                            self.fill(x + across, y - along - scale, scale, scale, color)
                        else:
                            self.fill(x + along, y + across, scale, scale, color)

    def rows(self) -> list[bytes]:
        stride = self.width * 3
        return [bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)]


def _text_width(text: str, scale: int = 1) -> int:
    return max(len(text) * _ADVANCE - 1, 0) * scale


def _range(values: list[float], pad_fraction: float) -> tuple[float, float]:
    """The padded axis range of `values`; a single value gets a range around it, so nothing divides by zero.

    Raises:
        ValueError: the padded range does not fit in a float.
    """
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    # NOTE: a spread below float resolution counts as constant; ticks for it would underflow. So would a
    # padding of 10% of a (sub)normal-tiny value, hence 1.0 around anything under 1e-200.
    if hi - lo <= max(abs(lo), abs(hi), 1e-200) * 1e-12:
        half = abs(lo) * 0.1 if abs(lo) >= 1e-200 else 1.0
        lo, hi = lo - half, hi + half
    else:
        pad = (hi - lo) * pad_fraction
        lo, hi = lo - pad, hi + pad
    if not math.isfinite(hi - lo):
        raise ValueError(f"values from {min(values)} to {max(values)} span more than a float can hold")
    return lo, hi


def _ticks(lo: float, hi: float, target: int) -> tuple[list[float], list[str]]:
    """At most about `target` ticks at a 1, 2 or 5 x 10^k step inside [lo, hi], and compact labels."""
    exponent = math.floor(math.log10((hi - lo) / max(target - 1, 1)))
    steps = sorted(m * 10.0**e for e in range(exponent - 1, exponent + 2) for m in _NICE_STEPS)
    step, ticks = steps[0], [lo, hi]
    # the finest step that gives at most `target` ticks, but never fewer than two
    for candidate in steps:
        # NOTE: ticks are k * step for integer k (not lo + i * step) so that 0 lands on exactly 0.0.
        first, last = math.ceil(lo / candidate - 1e-9), math.floor(hi / candidate + 1e-9)
        if last - first + 1 < 2:
            break
        step, ticks = candidate, [k * candidate for k in range(first, last + 1)]
        if len(ticks) <= target:
            break
    options = []
    for scale, suffix in ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")):
        decimals = max(0, -math.floor(math.log10(step / scale) + 1e-9))
        options.append([f"{t / scale:.{decimals}f}{suffix}" if t else "0" for t in ticks])
    # the most compact unit wins: "1.5M" over "1500000", but "1500" over "1.5k" (ties keep plain numbers)
    return ticks, min(options, key=lambda labels: max(map(len, labels), default=0))


def line_chart_png(
    series: Sequence[Series],
    *,
    title: str = "",
    width: int = 900,
    height: int = 420,
    markers: Sequence[float] = (),
    x_label: str = "",
    y_label: str = "",
) -> bytes:
    """An RGB PNG of the series as lines over a shared x/y range.

    The chart has axes, a light grid, tick labels, a legend (label text in each series' colour) and the
    title. Points with a NaN or infinite coordinate are skipped; a series with one point is drawn as a dot.

    Args:
        series: the lines to draw, each in its own colour; none gives the axes alone.
        title: drawn at double size above the legend.
        width: of the image in pixels, at least 200.
        height: of the image in pixels, at least 120.
        markers: x positions drawn as thin grey vertical lines (e.g. the blocks where a rebalance
            happened); they do not widen the x range, so those outside the points' range are not drawn.
        x_label: the name of the x axis, centred under its tick labels.
        y_label: the name of the y axis, written upwards left of its tick labels.

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: the image is smaller than 200x120, or the values span more than a float can hold.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"chart size {width}x{height} is too small: at least {MIN_WIDTH}x{MIN_HEIGHT}")
    finite = [[(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)] for s in series]
    x_lo, x_hi = _range([x for points in finite for x, _ in points], 0.0)
    y_lo, y_hi = _range([y for points in finite for _, y in points], 0.05)

    top, bottom = 44, height - 26 - (12 if x_label else 0)  # title and legend above, x labels below
    y_ticks, y_labels = _ticks(y_lo, y_hi, max(2, min(6, (bottom - top) // 40)))
    label_x = 4 + (12 if y_label else 0)
    # NOTE: capped so that absurdly long labels (tiny values) are clipped rather than eat the plot
    left = min(label_x + max(map(_text_width, y_labels)) + 8, width // 3)
    right = width - 16
    # fewer x ticks until their labels fit side by side: block numbers are long
    for target in range(8, 1, -1):
        x_ticks, x_labels = _ticks(x_lo, x_hi, target)
        widest = max(map(_text_width, x_labels))
        if (right - left) / (len(x_ticks) - 1) >= widest + 12:
            break
    # the outermost x labels are centred on their ticks: keep them inside the image
    left = max(left, min(widest // 2 + 4, width // 3))
    right = min(right, max(width - widest // 2 - 4, 2 * width // 3))

    def px(x: float) -> int:
        return left + round((x - x_lo) / (x_hi - x_lo) * (right - left))

    def py(y: float) -> int:
        return bottom - round((y - y_lo) / (y_hi - y_lo) * (bottom - top))

    canvas = _Canvas(width, height)
    for tick, label in zip(y_ticks, y_labels, strict=True):
        canvas.fill(left, py(tick), right - left, 1, _GRID)
        canvas.text(left - 6 - _text_width(label), py(tick) - _GLYPH_H // 2, label, _TEXT)
    for tick, label in zip(x_ticks, x_labels, strict=True):
        canvas.fill(px(tick), top, 1, bottom - top, _GRID)
        canvas.text(px(tick) - _text_width(label) // 2, bottom + 6, label, _TEXT)
    for marker in markers:
        if math.isfinite(marker) and x_lo <= marker <= x_hi:
            canvas.fill(px(marker), top, 1, bottom - top, _MARKER)
    for x, y, w, h in ((left, top, right - left + 1, 1), (left, bottom, right - left + 1, 1)):
        canvas.fill(x, y, w, h, _AXIS)
    for x, y, w, h in ((left, top, 1, bottom - top + 1), (right, top, 1, bottom - top + 1)):
        canvas.fill(x, y, w, h, _AXIS)
    canvas.text((left + right - _text_width(x_label)) // 2, bottom + 18, x_label, _TEXT)
    canvas.text(4, (top + bottom + _text_width(y_label)) // 2, y_label, _TEXT, upward=True)

    # lines last, so that the grid and markers never hide them
    for s, points in zip(series, finite, strict=True):
        pixels = [(px(x), py(y)) for x, y in points]
        if len(pixels) == 1:
            canvas.fill(pixels[0][0] - 2, pixels[0][1] - 2, 5, 5, s.color)
        for a, b in itertools.pairwise(pixels):
            canvas.line(a, b, s.color)

    canvas.text(left, 6, title, _TEXT, scale=2)
    legend_x = left
    for s in series:
        canvas.fill(legend_x, 30, 12, 2, s.color)
        canvas.text(legend_x + 16, 27, s.label, s.color)
        legend_x += 16 + _text_width(s.label) + 18
    return _encode_png(width, height, canvas.rows())


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_png(width: int, height: int, rows: list[bytes]) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no interlace
    # filter 0 on every row keeps the decoder trivial; flat chart colours compress well without filters
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows), 6)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def decode_png_rgb(data: bytes) -> tuple[int, int, list[bytes]]:
    """Parse a PNG of the kind `line_chart_png` writes: 8-bit RGB, not interlaced, filter 0 on every row.

    Returns:
        (width, height, rows), each row `3 * width` bytes of RGB.

    Raises:
        ValueError: not a PNG, a bad CRC, a truncated file, or a PNG feature this reader does not handle.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    pos, header, idat = len(PNG_SIGNATURE), b"", bytearray()
    while True:
        if pos + 8 > len(data):
            raise ValueError(f"PNG truncated at byte {pos}: no IEND")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body, crc = data[pos + 8 : pos + 8 + length], data[pos + 8 + length : pos + 12 + length]
        if len(crc) != 4:
            raise ValueError(f"PNG truncated in chunk {kind!r} at byte {pos}")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise ValueError(f"PNG chunk {kind!r} at byte {pos} has a bad CRC")
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk (upper-case first letter) changes the image
            raise ValueError(f"unsupported PNG chunk {kind!r}")
    if len(header) != 13:
        raise ValueError("PNG has no valid IHDR")
    width, height, depth, colour, compression, filter_method, interlace = struct.unpack(">IIBBBBB", header)
    if (depth, colour, compression, filter_method, interlace) != (8, 2, 0, 0, 0):
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {colour}, interlace {interlace}")
    stride = 1 + 3 * width
    try:
        # NOTE: bounded, so a small hostile file cannot inflate into gigabytes
        raw = zlib.decompressobj().decompress(bytes(idat), stride * height + 1)
    except zlib.error as exc:
        raise ValueError("PNG image data does not inflate") from exc
    if len(raw) != stride * height:
        raise ValueError(f"PNG image data inflates to {len(raw)} bytes, expected {stride * height}")
    rows = []
    for y in range(height):
        if raw[y * stride] != 0:
            raise ValueError(f"PNG row {y} uses filter {raw[y * stride]}: only filter 0 is supported")
        rows.append(raw[y * stride + 1 : (y + 1) * stride])
    return width, height, rows
