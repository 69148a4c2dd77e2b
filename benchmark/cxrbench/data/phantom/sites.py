"""The phantom's hospitals: each site has its own acquisition look and its own patient mix.

A site changes two things. The *look*: contrast curve, exposure, detector noise, blur (a proxy
for resolution), edge enhancement, collimation and the laterality marker. The *population*: the
AP/PA mix (AP films come from sicker, often supine patients, so this alone shifts label
prevalence, as it does in CheXpert), a moderate per-label odds shift, the race mix and an age
shift. `site-a` is the internal site and samples labels exactly as CheXpert does; `site-b` and
`site-c` are external test sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cxrbench.errors import ConfigError
from cxrbench.schema import RACES

#: Race mix of the internal site: roughly the CheXpert cohort as published with its
#: demographics file (White majority, large Other/Unknown share). Sites override it.
DEFAULT_RACE_MIX: dict[str, float] = {
    "American Indian/Alaska Native": 0.005,
    "Asian": 0.13,
    "Black": 0.06,
    "Pacific Islander": 0.01,
    "White": 0.56,
    "Other/Unknown": 0.235,
}


@dataclass(frozen=True)
class Site:
    """One phantom hospital. Lengths are in normalised image units (the image spans 2.0)."""

    name: str
    role: str  # "internal" or "external"
    description: str
    ap_fraction: float  # share of frontal films taken AP
    label_odds: dict[str, float] = field(default_factory=dict)  # odds multiplier per positive label
    race_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RACE_MIX))
    age_shift: float = 0.0  # years added to sampled ages
    # acquisition look
    gamma: float = 1.0  # contrast curve exponent applied to the normalised attenuation
    sigmoid_gain: float = 0.0  # > 0 gives an S-shaped (film-like) curve of this steepness
    window: tuple[float, float] = (0.0, 1.0)  # attenuation range mapped onto black..white
    exposure_jitter: float = 0.04  # per-image random shift of brightness
    noise: float = 0.02  # detector noise (std of the normalised intensity)
    blur: float = 0.008  # point-spread function sigma
    unsharp: float = 0.0  # edge enhancement strength (computed-radiography look)
    collimation: float = 0.02  # mean margin of the collimated (shuttered) border
    border_value: float = 0.0  # intensity outside the collimated field
    marker: str = "L"
    marker_corner: str = "top-right"  # where the laterality marker is stamped


SITES: dict[str, Site] = {
    "site-a": Site(
        name="site-a",
        role="internal",
        description="Internal academic hospital: CheXpert-like mix (84% AP), linear curve, fine detector.",
        ap_fraction=0.846,
        gamma=1.0,
        window=(0.02, 1.0),
        noise=0.018,
        blur=0.007,
        collimation=0.015,
        border_value=0.0,
        marker="L",
        marker_corner="top-right",
    ),
    "site-b": Site(
        name="site-b",
        role="external",
        description="Community hospital with outpatient clinics: 45% AP, fewer devices, "
        "high-contrast film-like curve, noisier lower-resolution detector, tight black collimation.",
        ap_fraction=0.45,
        label_odds={"Support Devices": 0.6, "Edema": 0.75, "Pleural Effusion": 0.8,
                    "Lung Lesion": 1.4, "Fracture": 1.3, "No Finding": 1.4},
        race_mix={"American Indian/Alaska Native": 0.01, "Asian": 0.05, "Black": 0.30,
                  "Pacific Islander": 0.01, "White": 0.55, "Other/Unknown": 0.08},
        age_shift=-4.0,
        gamma=0.8,
        sigmoid_gain=5.0,
        window=(0.08, 0.92),
        exposure_jitter=0.06,
        noise=0.04,
        blur=0.016,
        collimation=0.08,
        border_value=0.0,
        marker="R",
        marker_corner="top-left",
    ),
    "site-c": Site(
        name="site-c",
        role="external",
        description="Tertiary ICU-heavy hospital: 96% AP (portable films), more devices, edema and "
        "effusions; computed-radiography look with a soft curve, edge enhancement and bright shutters.",
        ap_fraction=0.96,
        label_odds={"Support Devices": 1.5, "Edema": 1.3, "Pleural Effusion": 1.25,
                    "Atelectasis": 1.2, "No Finding": 0.7, "Lung Lesion": 0.8},
        race_mix={"American Indian/Alaska Native": 0.005, "Asian": 0.25, "Black": 0.08,
                  "Pacific Islander": 0.02, "White": 0.45, "Other/Unknown": 0.195},
        age_shift=3.0,
        gamma=1.35,
        window=(-0.05, 1.1),
        exposure_jitter=0.05,
        noise=0.025,
        blur=0.010,
        unsharp=0.25,  # 0.6 cost an internal-trained classifier ~10 points at 5k films; 0.25 about 5
        collimation=0.05,
        border_value=0.6,
        marker="L",
        marker_corner="bottom-right",
    ),
}


def get_site(name: str) -> Site:
    """The site of that name; ConfigError naming the known sites otherwise."""
    try:
        return SITES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown phantom site {name!r}; known: {', '.join(SITES)}") from None


def check_race_mix(race_mix: dict[str, float], where: str = "race_mix") -> dict[str, float]:
    """Validate and normalise a race mix (keys from RACES, non-negative weights, positive sum)."""
    unknown = [r for r in race_mix if r not in RACES]
    if unknown:
        raise ConfigError(f"{where}: unknown race group(s) {unknown}; known: {list(RACES)}")
    if any(float(v) < 0 for v in race_mix.values()) or sum(race_mix.values()) <= 0:
        raise ConfigError(f"{where}: weights must be non-negative with a positive sum, got {race_mix}")
    total = float(sum(race_mix.values()))
    return {r: float(race_mix.get(r, 0.0)) / total for r in RACES}
