"""Upscaling generated 128x128 images to the 1000x1000 data format.

An area-downsampled sky spreads each compact source over a block of
(1000/128)^2 pixels. Interpolating it back (bilinear, bicubic) gives wide,
faint blobs whose peaks never reach 255, and nearest-neighbour gives squares.
``sources`` (the default) re-renders the sources instead:

1. The sky level (the image median: 0 for most real images, a constant 1 or 2
   counts for the others) is subtracted. Connected components above
   ``threshold`` counts are the sources; everything else becomes the sky
   level, rounded to whole counts and added back after rendering, as the
   constant sky of the real images.
2. A compact component (at most ``max_area`` low-resolution pixels) keeps its
   total flux and flux-weighted centroid; its second moment, minus the
   ``s^2/12`` that block averaging adds (s = the scale factor), gives the
   width of a Moffat profile (beta 2.5, alpha at least 2 px, the PSF of the
   data) rendered at full resolution and
   saturated softly at 255 like the sensor (knee 200).
3. A larger component (extended structure, noise, artifacts) is bicubic-
   interpolated inside its own footprint.

For block-max images (``data.downsample = "max"``) a low-resolution pixel is
the *peak* of its block, not its mean, so ``sources`` renders each compact
component as a Moffat profile with the component's peak and a width that
makes its footprint above ``threshold`` as large as the component's (at least
the PSF), placed at a uniformly drawn position inside its brightest block (the
position inside a block is what max-pooling forgets; the draw is seeded by the
image, so upscaling is a pure function).

``stamps`` (the default for a generator trained by this project, until its
run has a source model: then ``learned``, below) renders
each local maximum of the low-resolution image as a *real* source: a
:class:`SourceLibrary` holds the sources of the generator's training images
at full resolution (at each local maximum of their low-resolution image, the
connected source there, split from the neighbours it blends with, cut to the
5x5 blocks around the peak or a wider window where it reaches their edge; a
source that the image's border or the widest window cuts is left out), keyed by
what the low-resolution image shows of them (:func:`_keys`: the peak, its
eight neighbours relative to it, the outer ring's flux, the blocks above the
threshold), under each of the eight flips and quarter turns. A generated
peak takes one of the ``k`` nearest sources (different sources: a symmetric
one matches under several turns) within a tolerance of the nearest, turned
as its key matched, scaled to the generated peak (a factor
between 0.5 and 2; a saturated source is not brightened), and placed where
its brightest pixel lay inside its own block. Galaxy shapes, the PSF,
saturated cores with their spikes and faint wings come from the data the
generator learned from (on the CIL data: the real images); the model decides
where the sources are, how bright, and how they spread over the blocks.
Training writes the library into the workdir (``sources.npz``);
:func:`cosmojax.sampling.load` reads it.

``benchmarks/upscale.py`` compares the methods by a round trip on real and
synthetic images (1000 -> 128 by area, back to 1000): zero fraction, source
counts above 0/5/20/50 and peaks.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage, spatial

from cosmojax import files
from cosmojax.data import resample
from cosmojax.data.augment import dihedral
from cosmojax.data.sensor import KNEE, soft_saturate

METHODS = ("stamps", "learned", "sources", "bicubic", "bilinear", "nearest")
LIBRARY_FILE = "sources.npz"
LIBRARY_VERSION = 2  # 2: per-source saturated flags; sources cut by the image border left out
READABLE_VERSIONS = (1, 2)
BETA = 2.5
MIN_ALPHA = 2.0  # px: no source is narrower than the instrument's PSF (alpha ~ 1.6-2.4)


def _resize(counts: np.ndarray, size: int, resample) -> np.ndarray:
    im = Image.fromarray(np.asarray(counts, np.float32), mode="F")
    return np.asarray(im.resize((size, size), resample), np.float32)


def _canvas(counts: np.ndarray, size: int, threshold: float):
    """``(scale, empty output, component labels, their count)`` of a low-res image."""
    out = np.zeros((size, size), np.float32)
    labels, n = ndimage.label(counts > threshold, structure=np.ones((3, 3), bool))
    return size / counts.shape[0], out, labels, n


def _render_sources(counts: np.ndarray, size: int, threshold: float, max_area: int):
    r = counts.shape[0]
    s, out, labels, n = _canvas(counts, size, threshold)
    if n == 0:
        return out
    smooth = None
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float64)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[sl] == i
        w = counts[sl] * mask
        area = int(mask.sum())
        if area > max_area:
            if smooth is None:
                smooth = np.maximum(_resize(counts, size, Image.BICUBIC), 0.0)
            y0, y1 = int(sl[0].start * s), int(np.ceil(sl[0].stop * s))
            x0, x1 = int(sl[1].start * s), int(np.ceil(sl[1].stop * s))
            footprint = (
                np.asarray(
                    Image.fromarray(mask.astype(np.uint8) * 255).resize(
                        (x1 - x0, y1 - y0), Image.NEAREST
                    )
                )
                > 0
            )
            out[y0:y1, x0:x1] += smooth[y0:y1, x0:x1] * footprint
            continue
        flux = float(w.sum()) * s * s
        cy = float((w * yy[sl]).sum() / w.sum())
        cx = float((w * xx[sl]).sum() / w.sum())
        var = float((w * ((yy[sl] - cy) ** 2 + (xx[sl] - cx) ** 2)).sum() / w.sum()) / 2
        var_full = max(var * s * s - s * s / 12.0, MIN_ALPHA**2)  # per axis, full-res pixels
        alpha = np.sqrt(var_full * 2 * (BETA - 2))
        cy, cx = (cy + 0.5) * s - 0.5, (cx + 0.5) * s - 0.5
        peak = flux * (BETA - 1) / (np.pi * alpha**2)
        _add_moffat(out, cy, cx, peak, alpha)
    return out


def moffat_radius(peak: float, alpha: float, level: float = 0.3) -> float:
    """Radius at which a Moffat profile of ``peak`` and ``alpha`` falls to ``level``
    (0 when the peak is at or below it)."""
    if peak <= level:
        return 0.0
    return float(alpha * np.sqrt((peak / level) ** (1 / BETA) - 1))


def _add_moffat(out: np.ndarray, cy: float, cx: float, peak: float, alpha: float) -> None:
    size = out.shape[0]
    rad = int(min(60, np.ceil(moffat_radius(peak, alpha)) + 1))
    ya, yb = max(int(cy) - rad, 0), min(int(cy) + rad + 1, size)
    xa, xb = max(int(cx) - rad, 0), min(int(cx) + rad + 1, size)
    if ya >= yb or xa >= xb:
        return
    gy, gx = np.mgrid[ya:yb, xa:xb]
    r2 = (gy - cy) ** 2 + (gx - cx) ** 2
    out[ya:yb, xa:xb] += (peak * (1 + r2 / alpha**2) ** (-BETA)).astype(np.float32)


def local_maxima(counts: np.ndarray, threshold: float) -> np.ndarray:
    """Strict 3x3 local maxima above ``threshold``; ties are broken by position, so
    a flat top yields one maximum."""
    rank = np.empty(counts.size, np.int64)
    rank[np.argsort(counts.ravel(), kind="stable")] = np.arange(counts.size)
    rank = rank.reshape(counts.shape)  # unique: equal values are ordered by position
    return (rank == ndimage.maximum_filter(rank, size=3)) & (counts > threshold)


def _image_rng(counts: np.ndarray) -> np.random.Generator:
    """A generator seeded by (a hash of) the whole image: upscaling stays a pure
    function, and two images that differ anywhere draw differently."""
    digest = hashlib.sha256(np.ascontiguousarray(counts, np.float32).tobytes()).digest()
    return np.random.default_rng(np.frombuffer(digest, np.uint32))


def _render_peaks(counts: np.ndarray, size: int, threshold: float, max_area: int):
    """``sources`` for block-max images: a Moffat source at each local maximum.

    A block maximum says how bright the brightest pixel of a block is, not how
    many sources share it or where in the block they sit. Each local maximum
    (3x3) above ``threshold`` becomes one source with that peak, at a position
    drawn uniformly inside its block; its width makes the source's footprint
    above ``threshold`` as large as the blocks around it at or above half its
    peak (a star spread over 2x2 blocks stays one star), and never narrower
    than the PSF. Components larger than ``max_area`` blocks (extended
    structure) are interpolated inside their footprint instead.
    """
    s, out, labels, n = _canvas(counts, size, threshold)
    if n == 0:
        return out
    rng = _image_rng(counts)
    extended = np.zeros_like(counts, bool)
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[sl] == i
        if int(mask.sum()) > max_area:
            extended[sl] |= mask
            y0, y1 = int(sl[0].start * s), int(np.ceil(sl[0].stop * s))
            x0, x1 = int(sl[1].start * s), int(np.ceil(sl[1].stop * s))
            vals = np.where(mask, counts[sl], 0.0).astype(np.float32)
            big = Image.fromarray(vals, mode="F").resize((x1 - x0, y1 - y0), Image.BICUBIC)
            out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], np.maximum(np.asarray(big), 0.0))
    peaks = local_maxima(counts, threshold) & ~extended
    level = max(threshold, 0.5)
    for by, bx in zip(*np.nonzero(peaks), strict=True):
        peak = float(counts[by, bx])
        near = counts[max(by - 1, 0) : by + 2, max(bx - 1, 0) : bx + 2]
        area = int((near >= 0.5 * peak).sum())  # blocks the source spreads over (1..9)
        if peak >= KNEE:  # a saturated block: the true peak is higher, the core wider
            peak = KNEE + (peak - KNEE) * (3.0 + 2.0 * area)
        r_level = max(np.sqrt(area) - 1.0, 0.0) * s / 2.0
        stretch = np.sqrt(max((peak / level) ** (1 / BETA) - 1.0, 1e-6))
        alpha = max(MIN_ALPHA, r_level / stretch)
        cy = (by + rng.uniform()) * s - 0.5
        cx = (bx + rng.uniform()) * s - 0.5
        _add_moffat(out, cy, cx, peak, alpha)
    return out


THRESHOLDS = {"max": 0.5, "area": 0.05}  # counts above the sky at which a block shows a source
HOOD = 2  # the key reads the 5x5 blocks around a peak; a library source is cut to them
CUT_HOODS = (HOOD, 2 * HOOD, 4 * HOOD)  # wider windows for a source that reaches the edge
TURNS = 8  # the flips and quarter turns of a square
MATCH_TOLERANCE = 0.25  # a peak draws among the k nearest keys within this of the nearest
SKY_SIGMAS = 3.0  # stamps: a peak is a source above this many robust sds of the sky


def turn(a: np.ndarray, t: int) -> np.ndarray:
    """Symmetry ``t`` of the square (:func:`cosmojax.data.augment.dihedral`) on
    ``a``'s last two axes."""
    return dihedral(a, t, axes=(-2, -1))


def _turn_point(y: float, x: float, y_max: float, x_max: float, t: int) -> tuple[float, float]:
    """Where ``(y, x)`` lands under :func:`turn`, for coordinates from 0 to
    ``y_max`` / ``x_max`` (pixel indices of an ``h x w`` array: ``h - 1``,
    ``w - 1``; fractions of a block: 1)."""
    if t & 1:
        y = y_max - y
    if t & 2:
        x = x_max - x
    if t & 4:
        y, x = x, y
    return y, x


def _hoods(counts: np.ndarray, ys, xs) -> np.ndarray:
    """The 5x5 blocks around each peak ``(y, x)`` (zero outside the image)."""
    pad = np.pad(counts, HOOD)
    n = 2 * HOOD + 1
    return (
        np.stack([pad[y : y + n, x : x + n] for y, x in zip(ys, xs, strict=True)]).astype(
            np.float64
        )
        if len(ys)
        else np.zeros((0, n, n))
    )


def _keys(hoods: np.ndarray, threshold: float) -> np.ndarray:
    """What the low-resolution image shows of a source: log(1 + peak) (weight 3),
    its eight neighbours over the peak (weight 1), log(1 + the outer ring's
    sum) (weight 0.5) and how many of the 5x5 blocks are above ``threshold``
    (weight 0.05)."""
    c = HOOD
    peak = hoods[:, c, c]
    inner = hoods[:, c - 1 : c + 2, c - 1 : c + 2].reshape(len(hoods), 9)
    inner = np.delete(inner, 4, axis=1) / np.maximum(peak, 1e-6)[:, None]
    ring = hoods.sum((1, 2)) - hoods[:, c - 1 : c + 2, c - 1 : c + 2].sum((1, 2))
    above = (hoods > threshold).sum((1, 2))
    return np.concatenate(
        [
            3.0 * np.log1p(peak)[:, None],
            inner,
            0.5 * np.log1p(ring)[:, None],
            0.05 * above[:, None],
        ],
        axis=1,
    )


def _block_edges(size: int, resolution: int) -> np.ndarray:
    return np.append(resample.block_starts(size, resolution), size)


def connected_part(above: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 8-connected part of the boolean map ``above`` that holds ``(y, x)``;
    ``(y, x)`` itself is always in it (a source's peak, even where it is not
    above).

    >>> int(connected_part(np.eye(3, dtype=bool)[::-1] | np.eye(3, dtype=bool), 0, 0).sum())
    5
    """
    labels, _ = ndimage.label(above, structure=np.ones((3, 3), bool))
    mask = labels == labels[y, x] if labels[y, x] else np.zeros_like(above, bool)
    mask[y, x] = True
    return mask


def _peak_pixels(counts: np.ndarray, ey, ex, ys, xs) -> np.ndarray:
    """``[n, 2]`` full-resolution positions of the brightest pixel of each peak's
    block (model pixels ``ys``, ``xs``)."""
    out = np.empty((len(ys), 2), np.int64)
    for n, (y, x) in enumerate(zip(ys, xs, strict=True)):
        block = counts[ey[y] : ey[y + 1], ex[x] : ex[x + 1]]
        by, bx = np.unravel_index(np.argmax(block), block.shape)
        out[n] = by + ey[y], bx + ex[x]
    return out


def _own_part(patch: np.ndarray, peaks: np.ndarray, mine: int):
    """The source at ``peaks[mine]`` of ``patch`` (counts; ``peaks``: the
    brightest pixel of every peak inside it): ``(source, extent, whole)``.
    ``source`` (float32, zero off the source) is the non-zero pixels connected
    to the peak. Where they hold another peak (a blend), it is the symmetric
    template instead (as photometric deblenders take it): each pixel the lesser
    of itself and its mirror image through the peak, so that a neighbour on one
    side is left out and the source's own wings fade to zero, with no edge
    where it met the neighbour. ``extent``: the pixels the source covers
    (where the template needs its mirror beyond the patch, the pixel itself);
    ``whole``: False where the patch is too small to mirror all of them."""
    py, px = peaks[mine]
    above = connected_part(patch > 0, py, px)
    if sum(bool(above[y, x]) for y, x in peaks) == 1:
        return np.where(above, patch, 0.0).astype(np.float32), above, True
    h, w = patch.shape
    yy, xx = np.mgrid[0:h, 0:w]
    my, mx = 2 * py - yy, 2 * px - xx
    inside = (my >= 0) & (my < h) & (mx >= 0) & (mx < w)
    mirror = np.where(inside, patch[np.clip(my, 0, h - 1), np.clip(mx, 0, w - 1)], np.inf)
    template = np.minimum(patch, mirror)
    extent = connected_part(template > 0, py, px)
    source = np.where(extent & inside, template, 0.0).astype(np.float32)
    return source, extent, not (extent & ~inside).any()


def _cut_source(im, counts, ey, ex, yx, pixels, n):
    """The source of the peak at model pixel ``yx`` of full-resolution
    ``counts`` (the image ``im`` less its sky; ``ey``, ``ex``: block edges;
    ``pixels``: :func:`_peak_pixels` of every peak, this one the ``n``-th):
    ``(stamp uint8, peak within it, the peak's offset in its block as
    fractions, saturated)``. The source is :func:`_own_part` of the non-zero
    pixels, cut from the ``HOOD`` blocks around the peak, or from a
    wider window (``CUT_HOODS``) where it reaches the window's edge. None where
    it reaches the image's border or the widest window's edge: pasted
    elsewhere, such a stamp shows the cut as a straight edge."""
    resolution, (h, w) = len(ey) - 1, counts.shape
    y, x = (int(v) for v in yx)
    for hood in CUT_HOODS:
        y0, x0 = ey[max(y - hood, 0)], ex[max(x - hood, 0)]
        y1, x1 = ey[min(y + hood + 1, resolution)], ex[min(x + hood + 1, resolution)]
        patch = counts[y0:y1, x0:x1]
        near = np.nonzero(
            (pixels[:, 0] >= y0) & (pixels[:, 0] < y1) & (pixels[:, 1] >= x0) & (pixels[:, 1] < x1)
        )[0]
        source, mask, whole = _own_part(
            patch, pixels[near] - (y0, x0), int(np.nonzero(near == n)[0][0])
        )
        # each side of the window: whether the source reaches it, and whether
        # it is the image's border
        sides = (
            (mask[0].any(), y0 == 0),
            (mask[-1].any(), y1 == h),
            (mask[:, 0].any(), x0 == 0),
            (mask[:, -1].any(), x1 == w),
        )
        if any(reached and border for reached, border in sides):
            return None
        if whole and not any(reached for reached, _ in sides):
            break
    else:
        return None
    py, px = pixels[n] - (y0, x0)
    by, bx = pixels[n] - (ey[y], ex[x])
    sl = ndimage.find_objects(mask.astype(np.int8))[0]
    return (
        np.rint(source[sl]).astype(np.uint8),
        (py - sl[0].start, px - sl[1].start),
        ((by + 0.5) / (ey[y + 1] - ey[y]), (bx + 0.5) / (ex[x + 1] - ex[x])),
        bool(im[y0:y1, x0:x1][mask].max() >= 255),
    )


@dataclasses.dataclass(frozen=True)
class Pick:
    """One source to render at a peak: ``stamp`` (counts above the sky), where in
    it the peak's brightest pixel lies (``peak``) and where that pixel lies in
    its block (``offset``, fractions), the block maximum the stamp showed at
    the model's resolution (``block_peak``: the stamp is scaled by the
    generated peak over it, 0.5x to 2x), and whether it reached 255."""

    stamp: np.ndarray
    peak: tuple[float, float]
    offset: tuple[float, float]
    block_peak: float
    saturated: bool


def _paste(out: np.ndarray, pick: Pick, peak: float, ey, ex) -> None:
    """Pastes ``pick`` (its brightest pixel in the block ``ey`` x ``ex``, at its
    offset), scaled to the generated ``peak``, into ``out`` by maximum."""
    factor = float(np.clip(peak / max(pick.block_peak, 1e-6), 0.5, 2.0))
    if pick.saturated and factor > 1.0:  # a saturated source stays saturated
        factor = 1.0
    (fy, fx), s, size = pick.offset, pick.stamp, out.shape[0]
    cy = int(ey[0] + min(int(fy * (ey[1] - ey[0])), ey[1] - ey[0] - 1))
    cx = int(ex[0] + min(int(fx * (ex[1] - ex[0])), ex[1] - ex[0] - 1))
    dst, src = _overlap(cy - int(pick.peak[0]), cx - int(pick.peak[1]), s.shape, size)
    if dst is not None:
        part = s[src]
        piece = part * factor
        if pick.saturated:  # its 255 pixels stay 255, whatever the scale and sky
            piece = np.where(part >= s.max(), 255.0, piece)
        out[dst] = np.maximum(out[dst], piece)


def _overlap(y0: int, x0: int, shape, size: int):
    """``(canvas slices, stamp slices)`` of a ``shape`` stamp whose corner is at
    ``(y0, x0)`` on a ``size`` x ``size`` canvas, cut to the canvas; ``(None,
    None)`` where they do not overlap."""
    ya, xa = max(y0, 0), max(x0, 0)
    yb, xb = min(y0 + shape[0], size), min(x0 + shape[1], size)
    if ya >= yb or xa >= xb:
        return None, None
    return (
        (slice(ya, yb), slice(xa, xb)),
        (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0)),
    )


@dataclasses.dataclass(frozen=True)
class SourceLibrary:
    """Full-resolution sources of real images, keyed by their low-resolution look.

    ``pixels``: all sources' pixels (above the sky, uint8), concatenated;
    ``shapes`` ``[n, 2]``: each source's box; ``peaks`` ``[n, 2]``: where in its
    box lies the brightest pixel of its peak block, and ``offsets`` ``[n, 2]``
    where that pixel lies inside the block (fractions of the block);
    ``hoods`` ``[n, 5, 5]``: the low-resolution blocks around the peak;
    ``saturated`` ``[n]``: whether the source reached 255 in its image;
    ``resolution`` and ``downsample``: the representation they were read from
    (the generator's). See the module doc.
    """

    pixels: np.ndarray
    shapes: np.ndarray
    peaks: np.ndarray
    offsets: np.ndarray
    hoods: np.ndarray
    saturated: np.ndarray
    resolution: int
    downsample: str
    image_size: int | None = None  # of the images the sources come from (None: not recorded)

    def fits(self, size: int) -> bool:
        """Whether its sources are at the scale of ``size`` x ``size`` images."""
        return self.image_size is None or int(self.image_size) == int(size)

    @classmethod
    def build(cls, images, resolution: int, downsample: str) -> SourceLibrary:
        """The sources of uint8 ``images`` (full resolution, e.g. 1000x1000) at each
        local maximum of their ``resolution`` image made by ``downsample``."""
        resample.check_downsample(downsample)
        threshold = THRESHOLDS[downsample]
        stamps, peaks, offsets, hoods, saturated, sizes = [], [], [], [], [], set()
        for im in images:
            im = np.asarray(im)
            sizes.add(im.shape)
            if min(im.shape) < resolution:
                raise ValueError(
                    f"SourceLibrary.build: a {im.shape[0]}x{im.shape[1]} image is smaller "
                    f"than the model's {resolution}x{resolution}"
                )
            c = np.maximum(im.astype(np.float32) - np.median(im), 0.0)
            small = resample.resize(c, resolution, downsample)
            ey, ex = _block_edges(c.shape[0], resolution), _block_edges(c.shape[1], resolution)
            ys, xs = np.nonzero(local_maxima(small, threshold))
            around = _hoods(small, ys, xs)
            pixels = _peak_pixels(c, ey, ex, ys, xs)
            for n, yx in enumerate(zip(ys, xs, strict=True)):
                source = _cut_source(im, c, ey, ex, yx, pixels, n)
                if source is None:  # cut by the border or the widest window: it would show the cut
                    continue
                for out, value in zip((stamps, peaks, offsets, saturated), source, strict=True):
                    out.append(value)
                hoods.append(around[n])
        if not stamps:
            raise ValueError("SourceLibrary.build: the images hold no source")
        if len(sizes) != 1 or len(set(next(iter(sizes)))) != 1:
            raise ValueError(
                f"SourceLibrary.build: images of one square size expected, got {sizes}"
            )
        return cls(
            pixels=np.concatenate([s.ravel() for s in stamps]),
            shapes=np.asarray([s.shape for s in stamps], np.int32),
            peaks=np.asarray(peaks, np.int32),
            offsets=np.asarray(offsets, np.float32),
            hoods=np.stack(hoods).astype(np.float32),
            saturated=np.asarray(saturated, bool),
            resolution=int(resolution),
            downsample=str(downsample),
            image_size=int(next(iter(sizes))[0]),
        )

    def __len__(self):
        return len(self.shapes)

    @functools.cached_property
    def _start(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.shapes.prod(1))])

    @functools.cached_property
    def _tree(self):
        """A k-d tree over the keys of every source under each of the eight turns:
        a generated peak finds a source whose neighbourhood it matches as turned."""
        threshold = THRESHOLDS[self.downsample]
        keys = np.concatenate([_keys(turn(self.hoods, t), threshold) for t in range(TURNS)])
        return spatial.cKDTree(keys)

    def stamp(self, i: int) -> np.ndarray:
        return self.pixels[self._start[i] : self._start[i + 1]].reshape(self.shapes[i])

    def save(self, path) -> None:
        """Writes ``path`` (npz) atomically."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["image_size"] = -1 if self.image_size is None else self.image_size
        files.atomic_savez(path, compressed=True, version=LIBRARY_VERSION, **fields)

    @classmethod
    def load(cls, path) -> SourceLibrary:
        try:
            f = np.load(path, allow_pickle=False)
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("not an npz archive")
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a readable source library ({e})") from None
        with f:
            version = int(f["version"]) if "version" in f.files else None
            if version not in READABLE_VERSIONS:
                raise ValueError(
                    f"{path}: source library version {version or 'none'}, expected "
                    f"{' or '.join(map(str, READABLE_VERSIONS))}"
                )
            values = {fl.name: f[fl.name] for fl in dataclasses.fields(cls) if fl.name in f.files}
        optional = {"image_size"} | ({"saturated"} if version == 1 else set())
        missing = {fl.name for fl in dataclasses.fields(cls)} - set(values) - optional
        if missing:
            raise ValueError(f"{path}: source library without {sorted(missing)}")
        if "saturated" not in values:  # version 1: a source reaching 255 above its sky
            start = np.concatenate([[0], np.cumsum(values["shapes"].prod(1))[:-1]])
            values["saturated"] = np.maximum.reduceat(values["pixels"], start) >= 255
        values["resolution"] = int(values["resolution"])
        values["downsample"] = str(values["downsample"])
        size = int(values.get("image_size", -1))
        values["image_size"] = None if size < 0 else size
        return cls(**values)

    def render(
        self,
        counts: np.ndarray,
        size: int,
        k: int = 8,
        threshold: float | None = None,
        draw=None,
    ) -> np.ndarray:
        """Counts above the sky ``[r, r]`` -> float32 ``[size, size]`` (``stamps``):
        each peak draws one of the ``k`` library sources of the nearest keys
        (those within ``MATCH_TOLERANCE`` of the nearest). Peaks are local maxima
        above ``threshold`` (default: the representation's ``THRESHOLDS``).
        ``draw(hoods [n, 5, 5], rng) -> [Pick] * n`` replaces the library's
        choice (``learned``: a source model's draws); placement is the same."""
        if counts.shape != (self.resolution, self.resolution):
            raise ValueError(
                f"stamps: the library was built at {self.resolution}x{self.resolution}, "
                f"the image is {counts.shape[0]}x{counts.shape[1]}"
            )
        if not self.fits(size):
            raise ValueError(
                f"stamps: the library's sources come from {self.image_size}x{self.image_size} "
                f"images, not {size}x{size}; use that size or method 'sources'"
            )
        out = np.zeros((size, size), np.float32)
        if threshold is None:
            threshold = THRESHOLDS[self.downsample]
        ys, xs = np.nonzero(local_maxima(counts, threshold))
        if len(ys) == 0:
            return out
        rng = _image_rng(counts)
        hoods = _hoods(counts, ys, xs)
        picks = self._pick_stamps(hoods, k, rng) if draw is None else draw(hoods, rng)
        edges = _block_edges(size, counts.shape[0])
        for y, x, pick in zip(ys, xs, picks, strict=True):
            _paste(out, pick, counts[y, x], edges[y : y + 2], edges[x : x + 2])
        return out

    def _pick_stamps(self, hoods: np.ndarray, k: int, rng) -> list[Pick]:
        """Per peak, one of the ``k`` library sources of the nearest keys (those
        within ``MATCH_TOLERANCE`` of the nearest), turned as its key matched."""
        # a symmetric source matches under several turns: ask for enough keys to
        # find ``k`` different sources, and keep each source's nearest turn
        n_keys = min(k * TURNS, len(self) * TURNS)
        dist, near = self._tree.query(_keys(hoods, THRESHOLDS[self.downsample]), k=n_keys)
        dist, near = dist.reshape(len(hoods), n_keys), near.reshape(len(hoods), n_keys)
        picks = []
        for j in range(len(hoods)):
            _, first = np.unique(near[j] % len(self), return_index=True)
            first = np.sort(first)[:k]  # each source once, by its nearest turn
            close = int(np.sum(dist[j, first] <= dist[j, 0] + MATCH_TOLERANCE))  # >= 1
            t, i = divmod(int(near[j, first[rng.integers(close)]]), len(self))
            h, w = self.shapes[i]
            picks.append(
                Pick(
                    stamp=turn(self.stamp(i), t).astype(np.float32),
                    peak=_turn_point(*self.peaks[i], h - 1, w - 1, t),
                    offset=_turn_point(*(float(v) for v in self.offsets[i]), 1.0, 1.0, t),
                    block_peak=float(self.hoods[i, HOOD, HOOD]),
                    saturated=bool(self.saturated[i]),
                )
            )
        return picks


PATCH = 65  # learned sources: the square around a peak that a source model draws (odd:
# a flip or quarter turn keeps the peak at its centre)


def cutouts(library: SourceLibrary, patch: int = PATCH) -> np.ndarray:
    """Each library source in a ``patch`` x ``patch`` square of counts above the
    sky (float32 ``[n, patch, patch]``), its peak's brightest pixel at the centre
    ``(patch // 2, patch // 2)``; what lies beyond the square is cut."""
    out = np.zeros((len(library), patch, patch), np.float32)
    c = patch // 2
    for i in range(len(library)):
        s = library.stamp(i)
        dst, src = _overlap(
            c - int(library.peaks[i][0]), c - int(library.peaks[i][1]), s.shape, patch
        )
        out[i][dst] = s[src]  # the peak is inside the square: they always overlap
    return out


def conditions(hoods: np.ndarray) -> np.ndarray:
    """What a source model draws a source from: what the model's image shows of it,
    ``[n, 26]``: log(1 + peak) / log(256), then the 5x5 blocks around the peak
    over the peak (clipped to [0, 2]), row by row."""
    hoods = np.asarray(hoods, np.float32)
    peak = hoods[:, HOOD, HOOD]
    rel = np.clip(hoods / np.maximum(peak, 1e-6)[:, None, None], 0.0, 2.0)
    return np.concatenate(
        [np.log1p(peak)[:, None] / np.log(256.0), rel.reshape(len(hoods), -1)], axis=1
    ).astype(np.float32)


def default_method(library: SourceLibrary | None, size: int, draw=None) -> str:
    """The upscaler of a generator run at ``size``: where its source ``library``
    is at the scale of ``size``, ``learned`` when it has a source model's
    ``draw`` (sources of its own) and ``stamps`` when not (the library's
    sources, rescaled); else ``sources``.

    >>> default_method(None, 1000, draw=lambda hoods, rng: None)
    'sources'
    """
    if library is None or not library.fits(size):
        return "sources"
    return "stamps" if draw is None else "learned"


def choose_method(
    library: SourceLibrary | None, size: int, method: str | None = None, draw=None
) -> str:
    """The upscaler of a run with source ``library`` (or None) at ``size`` and a
    source model's ``draw`` (or None): ``method``, checked, or by default
    :func:`default_method` (``learned``, ``stamps`` or ``sources``).
    ``stamps`` or ``learned`` asked for at another size, or without what they
    need, is a ValueError.

    >>> choose_method(None, 1000)
    'sources'
    >>> choose_method(None, 1000, "stamps")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: method 'stamps': this run has no source library (sources.npz in its workdir)...
    """
    if method is None:
        return default_method(library, size, draw)
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if method == "learned" and draw is None:
        raise ValueError(
            "method 'learned': this run has no source model (source_model/ in its workdir: "
            "train one with configs/sources.py); use method 'stamps'"
        )
    if method in ("stamps", "learned") and library is None:
        raise ValueError(
            f"method {method!r}: this run has no source library (sources.npz in its workdir); "
            "use method 'sources'"
        )
    if method in ("stamps", "learned") and not library.fits(size):
        n = library.image_size
        raise ValueError(
            f"size {size}: method {method!r} draws sources at the scale of {n}x{n} images; "
            f"expected size {n} (or method 'sources' at size {size})"
        )
    return method


def load_library(workdir) -> SourceLibrary | None:
    """The source library a training run wrote into ``workdir``, or None."""
    path = Path(workdir) / LIBRARY_FILE
    return SourceLibrary.load(path) if path.is_file() else None


def full_size(
    small,
    size: int = 1000,
    *,
    downsample: str,
    library: SourceLibrary | None = None,
    method: str | None = None,
    draw=None,
) -> np.ndarray:
    """Model-resolution images ``[N, r, r]`` (uint8, or intensities in [0, 1]) ->
    uint8 ``[N, size, size]``, as ``cosmojax.generate`` writes them: ``method``
    defaults to the run's (:func:`choose_method`, which also checks it);
    ``draw``: a source model's draws, for ``learned``.

    >>> full_size(np.zeros((2, 16, 16), np.float32), 64, downsample="area").shape
    (2, 64, 64)
    """
    method = choose_method(library, size, method, draw)
    return np.stack(
        [
            upscale(im, size, method, downsample=downsample, library=library, draw=draw)
            for im in small
        ]
    ).reshape(-1, size, size)


def upscale(
    image,
    size: int = 1000,
    method: str = "sources",
    *,
    downsample: str = "area",
    threshold: float | None = None,
    max_area: int = 24,
    library: SourceLibrary | None = None,
    draw=None,
) -> np.ndarray:
    """``image``: uint8 or [0, 1] float ``[r, r]`` -> uint8 ``[size, size]``.

    ``downsample`` says how the low-resolution image was made (``area`` or
    ``max``); ``threshold`` (counts above the sky) defaults, for ``sources``, to
    0.05 for area images and 1.5 for block-max ones, whose faintest real pixel
    is 1, and for ``stamps`` to ``THRESHOLDS`` or ``SKY_SIGMAS`` robust sds of
    the sky, whichever is higher: the data's sky is one constant level, and a
    generated sky that scatters around it (a model draws each pixel's value
    inside its intensity bin) is sky, not hundreds of faint sources. ``stamps``
    needs the ``library`` of the generator's training images; ``learned`` as
    well, and ``draw``, a source model's draws (:meth:`SourceLibrary.render`):
    the peaks and their placement are those of ``stamps``, the sources drawn.
    """
    img = np.asarray(image)
    counts = img.astype(np.float32) if img.dtype == np.uint8 else img.astype(np.float32) * 255.0
    if method == "nearest":
        out = _resize(counts, size, Image.NEAREST)
    elif method == "bilinear":
        out = _resize(counts, size, Image.BILINEAR)
    elif method == "bicubic":
        out = _resize(counts, size, Image.BICUBIC)
    elif method in ("stamps", "learned"):
        if library is None:
            raise ValueError(f"method {method!r} needs a SourceLibrary (a workdir's sources.npz)")
        if method == "learned" and draw is None:
            raise ValueError("method 'learned' needs a source model's draw")
        if library.downsample != downsample:
            raise ValueError(
                f"stamps: the library was built from {library.downsample!r} images, "
                f"the image was made by {downsample!r}"
            )
        sky = float(np.median(counts))
        noise = 1.4826 * float(np.median(np.abs(counts - sky)))  # robust sd of the sky
        t = max(THRESHOLDS[downsample], SKY_SIGMAS * noise) if threshold is None else threshold
        draw = draw if method == "learned" else None
        out = library.render(np.maximum(counts - sky, 0.0), size, threshold=t, draw=draw)
        out = out + np.rint(sky)
    elif method == "sources":
        sky = float(np.median(counts))
        if downsample == "max":
            t = 1.5 if threshold is None else threshold
            out = _render_peaks(np.maximum(counts - sky, 0.0), size, t, max_area)
        elif downsample == "area":
            t = 0.05 if threshold is None else threshold
            out = _render_sources(np.maximum(counts - sky, 0.0), size, t, max_area)
        else:
            raise ValueError(f"downsample: expected 'area' or 'max', got {downsample!r}")
        out = soft_saturate(out) + np.rint(sky)  # the sky level, as the data's constant sky
    else:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
