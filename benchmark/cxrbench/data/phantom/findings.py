"""The 14 CheXpert findings as radiographic signs, each scaled by a strength in [0, 1].

Structural findings change anatomy parameters before the anatomy is drawn (cardiomegaly widens
the heart to a cardiothoracic ratio > 0.5, an enlarged cardiomediastinum widens the upper
mediastinum, atelectasis raises a hemidiaphragm). The others add attenuation to the images that
carry them, computed on that subset of the batch only. Each finding reads its own row of
uniform draws `u` (N, 14, 8), so toggling one label never changes how another is drawn.
"""

from __future__ import annotations

import numpy as np

from cxrbench.schema import PATHOLOGIES

from .anatomy import F32, Grid, Params, disc, ramp, segment

IDX = {name: j for j, name in enumerate(PATHOLOGIES)}


def col(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=F32).reshape(-1, 1, 1)


def apply_structural(p: Params, strength: np.ndarray, u: np.ndarray, ap: np.ndarray) -> None:
    """Cardiomegaly, enlarged cardiomediastinum and atelectatic volume loss, in place on `p`."""
    s = strength[:, IDX["Cardiomegaly"]]
    target = (0.58 + 0.10 * u[:, IDX["Cardiomegaly"], 0]) * (1.0 + 0.15 * ap)
    p["ctr"] = p.ctr + col(s * np.maximum(target - p.ctr[:, 0, 0], 0.0))
    s = strength[:, IDX["Enlarged Cardiomediastinum"]]
    p["med_w"] = p.med_w + col(s * (0.05 + 0.04 * u[:, IDX["Enlarged Cardiomediastinum"], 0]))
    p["knob"] = p.knob + col(s * 0.03)
    j = IDX["Atelectasis"]
    s = strength[:, j]
    right = u[:, j, 2] < 0.5  # same draw as the atelectasis side in render_findings
    raise_by = s * (0.03 + 0.05 * u[:, j, 3])
    p["dia_r"] = p.dia_r - col(raise_by * right)
    p["dia_l"] = p.dia_l - col(raise_by * ~right)


def _side(u: np.ndarray) -> np.ndarray:
    """-1 (image left = patient right) or +1, per image, as an (n, 1, 1) array."""
    return col(np.where(u < 0.5, -1.0, 1.0))


def _lung_point(p: Params, u_side, u_x, u_y, y_lo=-0.5, y_hi=0.25) -> tuple[np.ndarray, np.ndarray]:
    """A random point inside one lung field (centre x, y), as (n, 1, 1) arrays."""
    side = _side(u_side)
    cx = p.cx + side * (p.lung_xc + p.lung_a * (0.7 * col(u_x) - 0.35))
    cy = col(y_lo + (y_hi - y_lo) * u_y)
    return cx, cy


def _patchy(g: Grid, n: int, noise: np.ndarray) -> np.ndarray:
    """Low-frequency mottling (n, S, S) in 0..1 from a per-image 8x8 noise field, upsampled."""
    up = _upsampler(g.size)
    return np.clip(up @ noise @ up.T, 0.0, 1.0)


_UP: dict[int, np.ndarray] = {}


def _upsampler(size: int) -> np.ndarray:
    """Linear interpolation matrix (size, 8): 8 control points across the image."""
    if size not in _UP:
        pos = (np.arange(size) + 0.5) / size * 7
        lo = np.minimum(pos.astype(int), 6)
        w = pos - lo
        m = np.zeros((size, 8), dtype=F32)
        m[np.arange(size), lo] = 1 - w
        m[np.arange(size), lo + 1] = w
        _UP[size] = m
    return _UP[size]


def render_findings(att, layers, g: Grid, p: Params, strength, u, patch_noise) -> None:
    """Add the non-structural findings to `att` (and remove lung markings for pneumothorax)."""
    x, y = g.x, g.y
    px = g.px
    lung, ell, vessels = layers["lung"], layers["ell"], layers["vessels"]

    def rows(name):
        idx = np.nonzero(strength[:, IDX[name]] > 0)[0]
        return idx, col(strength[idx, IDX[name]]), u[idx, IDX[name]], p.subset(idx)

    # Lung opacity: an ill-defined hazy zone of ground-glass density
    idx, s, v, q = rows("Lung Opacity")
    if len(idx):
        cx, cy = _lung_point(q, v[:, 0], v[:, 1], v[:, 2], -0.4, 0.25)
        r = col(0.16 + 0.1 * v[:, 3])
        haze = disc(x, y, cx, cy, r) * (0.6 + 0.4 * _patchy(g, len(idx), patch_noise[idx, 0]))
        att[idx] += haze * lung[idx] * (0.16 * s)

    # Lung lesion: a nodule (small, sharp) or a mass (larger, lobulated)
    idx, s, v, q = rows("Lung Lesion")
    if len(idx):
        cx, cy = _lung_point(q, v[:, 0], v[:, 1], v[:, 2], -0.55, 0.2)
        mass = v[:, 3] < 0.35
        r = col(np.where(mass, 0.09 + 0.05 * v[:, 4], 0.045 + 0.025 * v[:, 4]))
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / r
        att[idx] += ramp(1.0 - d, 2 * px / r) * lung[idx] * (0.22 * s)

    # Edema: bilateral perihilar haze ("bat wing"), Kerley B lines at the bases, prominent vessels
    idx, s, v, q = rows("Edema")
    if len(idx):
        dx = np.abs(x - q.cx)
        wing = disc(dx, y, col(0.25 + 0.05 * v[:, 0]), col(-0.02 + 0.06 * v[:, 1]), col(0.26 + 0.06 * v[:, 2]))
        kerley = ramp(np.cos((y / 0.035 + col(v[:, 3])) * 2 * np.pi) - 0.7, 0.3)
        kerley = kerley * ramp(dx - (q.lung_xc + q.lung_a - 0.1), 2 * px) * ramp(y - 0.05, 0.05)
        att[idx] += (wing * 0.10 + kerley * 0.05) * lung[idx] * s
        vessels[idx] *= 1.0 + 0.5 * s * ramp(-y, 0.3)  # upper-lobe diversion

    # Consolidation: dense, fairly well-marginated airspace opacity confined to one lung zone
    idx, s, v, q = rows("Consolidation")
    if len(idx):
        cx, cy = _lung_point(q, v[:, 0], v[:, 1], v[:, 2], -0.3, 0.3)
        r = col(0.14 + 0.08 * v[:, 3])
        blob = ramp(disc(x, y, cx, cy, r) - 0.15, 0.3) * (0.75 + 0.25 * _patchy(g, len(idx), patch_noise[idx, 1]))
        att[idx] += blob * lung[idx] * (0.22 * s)

    # Pneumonia: patchy multifocal consolidation (three mottled foci in one or both lungs)
    idx, s, v, q = rows("Pneumonia")
    if len(idx):
        mottle = _patchy(g, len(idx), patch_noise[idx, 2])
        patch = np.zeros((len(idx), g.size, g.size), dtype=F32)
        for k in range(3):  # focus k: side from v[k], position from v[3 + k] and v[(6 + k) % 8]
            cx, cy = _lung_point(q, v[:, k], v[:, 3 + k], v[:, (6 + k) % 8], -0.3, 0.3)
            patch = np.maximum(patch, disc(x, y, cx, cy, col(0.12 + 0.04 * v[:, 7])))
        att[idx] += patch * (0.4 + 0.6 * mottle) * lung[idx] * (0.20 * s)

    # Atelectasis: plate-like (linear) band or a wedge at the base, with volume loss (structural)
    idx, s, v, q = rows("Atelectasis")
    if len(idx):
        side = col(np.where(v[:, 2] < 0.5, -1.0, 1.0))
        cx = q.cx + side * q.lung_xc
        cy = col(0.05 + 0.2 * v[:, 4])
        plate = ramp(0.025 + 0.015 * col(v[:, 5]) - np.abs((y - cy) - 0.15 * (x - cx)), 2 * px)
        plate = plate * ramp(q.lung_a * 0.8 - np.abs(x - cx), 0.05)
        wedge = ramp((y - cy) - 0.6 * np.abs(x - cx) + 0.02, 3 * px) * ramp(np.abs(x - q.cx) - 0.12, 0.05)
        wedge = wedge * (np.sign(x - q.cx) == side)
        shape = np.where(col(v[:, 6]) < 0.5, plate, wedge * 0.7)
        att[idx] += shape * lung[idx] * (0.22 * s)

    # Pneumothorax: thin visceral pleural line, no lung markings and extra lucency beyond it
    idx, s, v, q = rows("Pneumothorax")
    if len(idx):
        side = col(np.where(v[:, 0] < 0.5, -1.0, 1.0))
        depth = col(0.3 + 0.4 * v[:, 1]) * (0.6 + 0.4 * s)  # ellipse units: 0.2 ≈ a rim of 10 % of the hemithorax
        same_side = (np.sign(x - q.cx) == side)
        upper = ramp(0.15 - y, 0.15)
        e = ell[idx]
        beyond = ramp(e - (1.0 - depth), 2 * px) * same_side * upper * lung[idx]
        line = ramp(0.012 - np.abs(e - (1.0 - depth)) * 0.25, 2 * px) * same_side * upper * lung[idx]
        vessels[idx] *= 1.0 - beyond
        att[idx] += line * (0.12 * s) - beyond * (0.07 * s)

    # Pleural effusion: dependent fluid at the base with a lateral meniscus, blunting the angle
    idx, s, v, q = rows("Pleural Effusion")
    if len(idx):
        bilateral = v[:, 0] < 0.4
        side = col(np.where(v[:, 1] < 0.5, -1.0, 1.0))
        on_side = (np.sign(x - q.cx) == side) | bilateral.reshape(-1, 1, 1)
        dome = np.where(x < q.cx, q.dia_r, q.dia_l) + q.dome_h
        height = col(0.08 + 0.26 * v[:, 2]) * (0.4 + 0.6 * s)
        t = np.clip((np.abs(x - q.cx) - 0.1) / (q.lung_xc + q.lung_a - 0.1), 0.0, 1.0)
        level = dome - height - 0.2 * t * t  # meniscus: fluid climbs the lateral chest wall
        fluid = np.clip((y - level) / 0.08, 0.0, 1.0) * on_side * lung[idx]  # replaces aerated lung
        att[idx] += fluid * (0.30 * (0.5 + 0.5 * s))

    # Pleural other: smooth pleural thickening along the lateral chest wall or an apical cap
    idx, s, v, q = rows("Pleural Other")
    if len(idx):
        side = col(np.where(v[:, 0] < 0.5, -1.0, 1.0))
        thick = col(0.12 + 0.14 * v[:, 1])
        same_side = (np.sign(x - q.cx) == side)
        rim = ramp(ell[idx] - (1.0 - thick), 2 * px) * same_side * lung[idx]
        apical = col(v[:, 2] < 0.4)
        zone = np.where(apical, ramp(-0.45 - y, 0.08), ramp(0.3 - np.abs(y + 0.1), 0.1))
        att[idx] += rim * zone * (0.18 * s)

    # Fracture: cortical break of one posterior rib, its lateral fragment displaced, with callus
    idx, s, v, q = rows("Fracture")
    if len(idx):
        side = col(np.where(v[:, 0] < 0.5, -1.0, 1.0))
        xf = q.cx + side * (q.lung_xc + q.lung_a * (0.2 + 0.6 * col(v[:, 1])))
        dxf = np.abs(xf - q.cx)
        k = np.floor(col(-0.5 + 0.7 * v[:, 2]) / q.rib_spacing)  # which rib: one in the mid zone
        t_rib = (k - q.rib_phase) * q.rib_spacing
        yf = t_rib - 0.25 * dxf + q.rib_curve * dxf * dxf  # the rib's centre line at x = xf
        dx = np.abs(x - q.cx)
        t = y + 0.25 * dx - q.rib_curve * dx * dx  # the rib coordinate of anatomy.compose

        def rib(tt):
            return ramp(np.cos((tt / q.rib_spacing + q.rib_phase) * 2 * np.pi) - 0.35, 0.5)

        shift = (0.035 + 0.035 * s) * (q.rib_spacing / 0.165)
        fragment = ramp(0.09 - np.abs(x - xf - side * 0.09), px)
        fragment = fragment * ramp(0.5 * q.rib_spacing + shift / 2 - np.abs(t - t_rib - shift / 2), px)
        displaced = (rib(t - shift) - rib(t)) * fragment
        gap = ramp(0.02 + 0.015 * s - np.abs(x - xf), px) * ramp(0.05 - np.abs(y - yf), px)
        # a fusiform callus along the rib, wider than the rib itself (healing fractures are seen by it)
        ax, ay = col(0.10 + 0.04 * s), col(0.045 + 0.02 * s)
        callus = np.sqrt(disc(x / ax, y / ay, xf / ax, (yf + shift / 2) / ay, 1.0))
        att[idx] += (displaced * 0.10 - gap * 0.12) * q.bone * (0.6 + 0.4 * s) + callus * (0.30 * s)

    # Support devices: endotracheal tube, central line, NG tube, pacemaker with lead, ECG leads
    idx, s, v, q = rows("Support Devices")
    if len(idx):
        dev = np.zeros((len(idx), g.size, g.size), dtype=F32)
        w = 1.2 * px + 0.004
        ett = col(v[:, 0] < 0.55)
        tip = col(-0.28 + 0.12 * v[:, 1])
        dev += ett * segment(x, y, q.cx - 0.01, col(-1.05), q.cx - 0.01, tip, 0.012 + px, px)
        line = col(v[:, 2] < 0.6)
        sx = q.cx + col(np.where(v[:, 3] < 0.5, -1.0, 1.0)) * 0.42
        dev += line * np.maximum(segment(x, y, sx, col(-0.78), q.cx - 0.03, col(-0.58), w, px),
                                 segment(x, y, q.cx - 0.03, col(-0.58), q.cx - 0.05, col(-0.15), w, px))
        ng = col(v[:, 4] < 0.35)
        dev += ng * np.maximum(segment(x, y, q.cx + 0.02, col(-1.05), q.cx + 0.03, q.dia_l + 0.2, w, px),
                               segment(x, y, q.cx + 0.03, q.dia_l + 0.2, q.cx + 0.3, q.dia_l + 0.3, w, px))
        pacer = col(v[:, 5] < 0.18)
        bx, by = q.cx + 0.5, col(-0.62)
        box = ramp(0.08 - np.abs(x - bx), px) * ramp(0.055 - np.abs(y - by), px)
        dev += pacer * np.maximum(box * 1.6, segment(x, y, bx - 0.05, by, q.cx + 0.12, q.heart_y + 0.2, w, px))
        ecg = col((v[:, 6] < 0.5) | ~((v[:, 0] < 0.55) | (v[:, 2] < 0.6) | (v[:, 4] < 0.35) | (v[:, 5] < 0.18)))
        for k in range(3):
            ex = q.cx + col(np.array([-0.55, 0.55, 0.3])[k] + 0.1 * (v[:, 7] - 0.5))
            ey = col(np.array([-0.6, -0.6, 0.35])[k] + 0.1 * (v[:, (k + 1) % 8] - 0.5))
            ring = ramp(0.025 - np.abs(np.sqrt((x - ex) ** 2 + (y - ey) ** 2) - 0.035), px)
            dev += ecg * ring
        att[idx] += np.minimum(dev, 1.6) * (0.20 * np.maximum(s, 0.6))
