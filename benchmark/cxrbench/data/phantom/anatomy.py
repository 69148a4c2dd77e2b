"""Normal chest anatomy as an attenuation map, vectorised over a batch of images.

Coordinates are normalised: x and y run from -1 to 1 across the image, x to the right, y down.
Images are shown in the radiographic convention: the patient's right is on the image left, so
the heart bulges to the image right (+x) and the right hemidiaphragm (image left) sits higher.

Every parameter is an array of shape (N, 1, 1) so that one numpy expression draws the whole
batch; each image's parameters come from its own random stream (see render.py), so the result
for an image does not depend on the batch it is rendered in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

F32 = np.float32
#: Lung-marking lookup table: angular and radial bins around each hilum.
MARK_ANGLES, MARK_RADII = 96, 10
HILUM_X, HILUM_Y = 0.17, -0.02  # canonical hila (|x| from the midline, y); markings radiate from here


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates of a square image and the lung-marking lookup indices."""

    size: int
    x: np.ndarray  # (1, 1, S)
    y: np.ndarray  # (1, S, 1)
    px: float  # one pixel in normalised units
    mark_index: np.ndarray  # (S*S,) flat index into the (2, MARK_ANGLES, MARK_RADII) marking table
    mark_radius: np.ndarray  # (1, S, S) distance to the nearer hilum


@lru_cache(maxsize=16)
def grid(size: int) -> Grid:
    c = ((np.arange(size, dtype=F32) + 0.5) / size * 2 - 1).astype(F32)
    x, y = c[None, None, :], c[None, :, None]
    xx, yy = np.broadcast_to(x, (1, size, size))[0], np.broadcast_to(y, (1, size, size))[0]
    side = (xx > 0).astype(np.int64)  # 0: image-left (right lung), 1: image-right (left lung)
    hx = np.where(side == 1, HILUM_X, -HILUM_X)
    dx, dy = (xx - hx) * np.where(side == 1, 1, -1), yy - HILUM_Y  # mirror so angles match per side
    radius = np.sqrt(dx * dx + dy * dy)
    angle = (np.arctan2(dy, dx) + np.pi) / (2 * np.pi)  # 0..1
    a_bin = np.minimum((angle * MARK_ANGLES).astype(np.int64), MARK_ANGLES - 1)
    r_bin = np.minimum((radius / 0.9 * MARK_RADII).astype(np.int64), MARK_RADII - 1)
    index = (side * MARK_ANGLES + a_bin) * MARK_RADII + r_bin
    return Grid(size, x, y, 2.0 / size, index.reshape(-1), radius[None].astype(F32))


def ramp(v: np.ndarray, width) -> np.ndarray:
    """Soft step: 0 for v << 0, 1 for v >> 0, linear over `width` (a cheap anti-aliased edge)."""
    return np.clip(v / width + 0.5, 0.0, 1.0).astype(F32, copy=False)


def disc(x, y, cx, cy, r) -> np.ndarray:
    """A smooth round blob: 1 at the centre, 0 from radius r on (parabolic profile, squared)."""
    d = 1.0 - ((x - cx) ** 2 + (y - cy) ** 2) / (r * r)
    np.clip(d, 0.0, 1.0, out=d)
    return d * d


def segment(x, y, x0, y0, x1, y1, width, edge) -> np.ndarray:
    """A line of half-width `width` from (x0, y0) to (x1, y1), soft-edged (tubes, wires, leads)."""
    vx, vy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * vx + (y - y0) * vy) / (vx * vx + vy * vy + 1e-9), 0.0, 1.0)
    dx, dy = x - x0 - t * vx, y - y0 - t * vy
    return ramp(width - np.sqrt(dx * dx + dy * dy), edge)


class Params(dict):
    """Per-image parameters, each an (N, 1, 1) float32 array; attribute access for readability."""

    __getattr__ = dict.__getitem__

    def subset(self, idx: np.ndarray) -> "Params":
        return Params({k: v[idx] for k, v in self.items()})


def anatomy_params(u: np.ndarray, female: np.ndarray, age: np.ndarray, ap: np.ndarray) -> Params:
    """Map uniform draws u (N, 32) and demographics to anatomy parameters.

    Sex: women have a narrower thorax and breast shadows. Age: bone density falls and the heart
    widens slightly. AP (portable, often supine) films magnify the heart by ~15 %, show a shallower
    inspiration, higher and more horizontal clavicles, and scapulae projecting over the lungs.
    """
    n = len(u)
    col = lambda a: np.asarray(a, dtype=F32).reshape(n, 1, 1)  # noqa: E731
    habitus = u[:, 0] * 2 - 1  # -1 slender .. 1 broad
    p = Params()
    p["cx"] = col(0.04 * (u[:, 1] - 0.5))
    p["body_w"] = col(0.86 + 0.07 * habitus - 0.04 * female)
    p["lung_xc"] = col(0.43 + 0.03 * habitus - 0.02 * female + 0.015 * (u[:, 2] - 0.5))
    p["lung_a"] = col(0.28 + 0.02 * habitus - 0.01 * female + 0.02 * (u[:, 3] - 0.5))
    inspiration = 0.06 * (u[:, 4] - 0.5) - 0.06 * ap  # AP: shallower inspiration, higher domes
    p["apex_y"] = col(-0.80 + 0.04 * (u[:, 5] - 0.5) + 0.03 * ap)
    p["dia_r"] = col(0.36 + inspiration)  # right hemidiaphragm dome (image left), higher
    p["dia_l"] = col(0.42 + inspiration + 0.03 * (u[:, 6] - 0.5))
    p["dome_h"] = col(0.16 + 0.06 * u[:, 7])
    age_f = np.clip((age - 20.0) / 70.0, 0.0, 1.0)
    ctr = 0.45 + 0.05 * (u[:, 8] - 0.5) + 0.035 * age_f  # cardiothoracic ratio on a PA film
    p["ctr"] = col(ctr * (1.0 + 0.15 * ap))  # AP magnifies the heart
    p["heart_shift"] = col(0.07 + 0.04 * u[:, 9])
    p["heart_tilt"] = col(0.35 + 0.3 * u[:, 10])
    p["heart_y"] = col(0.18 + 0.05 * (u[:, 11] - 0.5))
    p["med_w"] = col(0.095 + 0.015 * u[:, 12] + 0.01 * age_f)
    p["knob"] = col(0.02 + 0.04 * age_f * u[:, 13])  # aortic knob unfolds with age
    p["bone"] = col(np.clip(1.0 - 0.55 * age_f + 0.15 * (u[:, 14] - 0.5), 0.3, 1.1))
    p["rib_phase"] = col(u[:, 15])
    p["rib_spacing"] = col(0.165 + 0.025 * (u[:, 16] - 0.5) - 0.01 * ap)
    p["rib_curve"] = col(0.85 + 0.3 * u[:, 17])
    p["clav_y"] = col(-0.70 + 0.04 * (u[:, 18] - 0.5) - 0.07 * ap)
    p["clav_slope"] = col(-0.28 + 0.1 * (u[:, 19] - 0.5) + 0.18 * ap)  # AP: more horizontal
    p["scap_x"] = col(np.where(ap > 0.5, 0.60, 0.80) + 0.05 * (u[:, 20] - 0.5))
    p["breast"] = col(female * (0.6 + 0.8 * u[:, 21]))
    p["breast_y"] = col(0.38 + 0.1 * u[:, 22])
    p["soft"] = col(0.9 + 0.2 * habitus + 0.1 * (u[:, 23] - 0.5))  # soft-tissue thickness
    p["marking_gain"] = col(0.8 + 0.4 * u[:, 24])
    p["bubble"] = col(u[:, 25] > 0.3)
    p["spine_phase"] = col(u[:, 26])
    return p


def lung_fields(g: Grid, p: Params) -> tuple[np.ndarray, np.ndarray]:
    """The two lung fields (soft mask in 0..1) and the lung ellipse value (1 on the pleura)."""
    x, y = g.x, g.y
    dxs = x - p.cx
    dx = np.abs(dxs)
    yc = 0.38
    b = yc - p.apex_y
    ell = ((dx - p.lung_xc) / p.lung_a) ** 2 + ((y - yc) / b) ** 2
    lung = ramp((1.0 - ell) * (p.lung_a * 0.5), 1.5 * g.px)
    dome_top = np.where(dxs < 0, p.dia_r, p.dia_l)
    dia_y = dome_top + p.dome_h * ((dx - p.lung_xc + 0.1) / (p.lung_a + 0.1)) ** 2
    lung *= ramp(dia_y - y, 1.5 * g.px)
    lung *= ramp(dx - p.med_w - 0.02, 2 * g.px)  # mediastinum bounds the lungs medially
    return lung, ell


def heart_mask(g: Grid, p: Params) -> np.ndarray:
    x, y = g.x, g.y
    thorax_half = p.lung_xc + p.lung_a
    hw = p.ctr * thorax_half  # half the heart width = ctr * half the thoracic width
    hx = p.cx + p.heart_shift * hw / 0.3
    hy = p.heart_y + 0.05
    hh = 0.30
    xr = (x - hx) - p.heart_tilt * (y - hy) * 0.5
    e = (xr / hw) ** 2 + ((y - hy) / hh) ** 2
    return ramp((1.0 - e) * hw * 0.5, 1.5 * g.px)


def compose(g: Grid, p: Params, marking_table: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The attenuation map (N, S, S) of normal anatomy and the layers findings need."""
    x, y = g.x, g.y
    px = g.px
    dxs = x - p.cx
    dx = np.abs(dxs)
    n = len(p.cx)

    # body outline: torso, slightly wider shoulders, the neck at the top edge
    half = p.body_w + 0.06 * ramp(-0.62 - y, 0.3)
    half = 0.24 + (half - 0.24) * ramp(y + 0.9, 0.08)
    body = ramp(half - dx, 4 * px)
    att = body * (0.55 * p.soft)

    lung, ell = lung_fields(g, p)
    heart = heart_mask(g, p)
    lung = lung * (1.0 - 0.85 * heart)  # the heart displaces aerated lung: its shadow is soft-tissue dense
    att -= lung * 0.31

    # upper mediastinum with the aortic knob (image right), trachea air column
    med_half = p.med_w + p.knob * ramp(0.08 - np.abs(y + 0.32), 0.12) * (dxs > 0)
    att += ramp(med_half - dx, 2 * px) * ramp(0.05 - y, 0.1) * 0.10
    trachea = ramp(0.032 - np.abs(dxs + 0.01), 2 * px) * ramp(-0.12 - y, 0.06) * ramp(y + 0.98, 0.05)
    att -= trachea * 0.12

    # spine: segmented column (vertebral bodies) behind the mediastinum
    vert = 0.75 + 0.25 * np.cos((y / 0.115 + p.spine_phase) * 2 * np.pi)
    att += ramp(0.07 - dx, 2 * px) * vert * (0.10 * p.bone)

    # ribs: posterior arcs (bright, curving down laterally) and fainter anterior ribs
    t = y + 0.25 * dx - p.rib_curve * dx * dx
    post = ramp(np.cos((t / p.rib_spacing + p.rib_phase) * 2 * np.pi) - 0.35, 0.5)
    rib_zone = ramp(p.lung_xc + p.lung_a + 0.04 - dx, 3 * px) * ramp(dx - 0.075, 2 * px) * ramp(y + 0.88, 0.06)
    rib_zone = rib_zone * ramp(0.75 - y, 0.2)
    ribs = post * rib_zone
    t2 = y + 0.55 * dx
    ant = ramp(np.cos((t2 / (p.rib_spacing * 1.25) + p.rib_phase * 0.7) * 2 * np.pi) - 0.5, 0.4)
    ribs += 0.45 * ant * rib_zone * ramp(dx - 0.25, 0.1)
    att += ribs * (0.08 * p.bone)

    # clavicles: oblique bands from the manubrium outwards and up
    d = np.abs((y - p.clav_y) - p.clav_slope * (dx - 0.1))
    clav = ramp(0.035 - d, 2 * px) * ramp(dx - 0.06, 2 * px) * ramp(0.66 - dx, 0.04)
    att += clav * (0.14 * p.bone)

    # scapulae: medial border over the upper lateral lung on AP films, outside it on PA
    border = p.scap_x + 0.18 * (y + 0.7)
    scap = ramp(dx - border, 4 * px) * ramp(y + 0.8, 0.05) * ramp(-0.05 - y, 0.15) * ramp(p.body_w - dx, 0.05)
    att += scap * 0.07

    # breast shadows (women): soft lower-zone density with a curved lower edge
    fem = np.nonzero(p.breast[:, 0, 0] > 0)[0]
    if len(fem):
        q = p.subset(fem)
        e = ((dx[fem] - 0.48) / 0.34) ** 2 + ((y - q.breast_y) / 0.3) ** 2
        att[fem] += ramp((1.0 - e) * 0.1, 6 * px) * (0.045 * q.breast)

    # hila and lung markings (vessels radiating from the hila, fading to the periphery)
    hila = disc(dx, y, HILUM_X + 0.02, HILUM_Y, 0.09)
    flat = marking_table.reshape(n, -1)
    vessels = np.take_along_axis(flat, np.broadcast_to(g.mark_index, (n, g.mark_index.size)), axis=1)
    vessels = vessels.reshape(n, g.size, g.size)
    vessels *= np.clip(1.0 - g.mark_radius / 0.85, 0.0, 1.0)
    vessels *= lung

    # gastric air bubble under the left hemidiaphragm (image right)
    bubble = disc(x, y, p.cx + 0.36, p.dia_l + p.dome_h + 0.1, 0.09) * p.bubble
    att -= bubble * 0.12 * body
    att += hila * 0.10 * lung
    layers = {"lung": lung, "ell": ell, "heart": heart, "vessels": vessels, "body": body}
    return att, layers
