"""The clock renderer's domain randomisation, as one table: named families of looks and the ranges of their factors.

Every rendered clock takes one family from each group (how it is framed, its dial, hands and bezel, the floor it
lies on, the glare on its glass, the camera that took it), chosen with the families' weights among those a
`Style` keeps, then draws each factor of its families: a `Range` from a triangular distribution peaking at its
centre (uniform when it has none), a `Choice` from weighted values, a plain value as it stands. The course's look
is the centre of the distribution: the course-like family of each group weighs most, and the centres were set
from the side-by-side statistics of genuine samples and renders (scripts/clock_realism.py, docs/clock.md).

A style is written as text (the `render_clocks` parameter `style`): `all`, or a comma-separated list of family
names, where `-name` leaves a family out and a bare `name` keeps only the named families of its group (groups the
list does not name keep all theirs). `-wood,-thin_hands` renders no wooden floors and no thin hands; `wood,wash_glare`
renders only wooden floors with a broad glare on every clock. Rotation is not a factor: every style turns the
clock by any angle, uniformly.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import InputError


@dataclass(frozen=True)
class Range:
    """A factor drawn from low..high: triangular with its mode at `centre`, or uniform when centre is None."""
    low: float
    high: float
    centre: float | None = None

    def draw(self, rng: np.random.Generator) -> float:
        if self.centre is None:
            return float(rng.uniform(self.low, self.high))
        return float(rng.triangular(self.low, self.centre, self.high))


@dataclass(frozen=True)
class Choice:
    """A factor that takes one of a few values, with the given weights."""
    values: tuple
    weights: tuple[float, ...]

    def draw(self, rng: np.random.Generator):
        weights = np.asarray(self.weights, dtype=float)
        return self.values[int(rng.choice(len(self.values), p=weights / weights.sum()))]


Factor = Range | Choice | float | str | tuple


@dataclass(frozen=True)
class Family:
    """One named family of looks: its group, how often it is picked among the group's, and the factors it changes
    from the group's defaults."""
    name: str
    group: str
    weight: float
    what: str
    factors: Mapping[str, Factor] = field(default_factory=dict)


# --- Each group's factors as the course's look has them (a family changes some) ----------------------------------
# Centres marked "realism" were moved to where the genuine samples' statistics put them (docs/clock.md has the
# table): the genuine clocks fill more of the frame, their dials are even to the rim and a little less bright
# than ours were once stretched, their hands are dark grey, their floors vary more in tone but less in fine grain.
GROUP_DEFAULTS: dict[str, dict[str, Factor]] = {
    "framing": {
        "scale": Range(0.6, 1.3, 1.15),  # outer diameter / frame; above 1 the bezel is cropped (realism: mean)
        "axis_ratio": Range(0.64, 1.0),  # minor/major axis of the dial ellipse: the tilt
        "max_offset": 0.13,  # centre drawn uniformly over a disc of this radius, fraction of the frame
        "distance_jitter": Range(0.85, 1.15),  # camera distance against a fixed lens: how strong the perspective
    },
    "dial": {
        "face": "course",  # which drawn dial (clock_textures.DIAL_FACES)
        "dial_level": Range(170.0, 235.0, 200.0),  # grey of white paper under the light (realism: 90th percentile)
        "dial_gradient": 0.05,  # spread of a linear light gradient across the dial, per R
        "dial_vignette": Range(0.0, 0.16, 0.02),  # darkening at the rim, fraction of the dial's grey (genuine: even)
        "wall_shade": Range(0.0, 0.22, 0.04),  # the bezel's wall shading a crescent of the dial
        "lip": Range(0.0, 1.0, 0.2),  # how bright the thin lip between dial and bezel is
        "ink": Range(0.7, 1.2, 1.0),  # numeral and mark darkness against the face's own
    },
    "hands": {
        "shape": "bar",  # square-ended bars, or "tapered" to a point
        "hand_level": Range(8.0, 110.0, 66.0),  # grey of the hands: near black to dark grey (realism: hand darkness)
        "hand_width": Range(0.85, 1.2, 1.0),  # times the course's widths
        "hand_tail": Choice((0.0, 0.09, 0.2), (0.6, 0.25, 0.15)),  # none, short, long, in R past the hub
        "hub_radius": Range(0.03, 0.07, 0.045),
        "hand_softness": Range(1.0, 2.5, 1.4),  # width in pixels of a hand's edge ramp
    },
    "bezel": {
        "bezel_level": Range(36.0, 105.0, 74.0),  # (realism: 25th percentile)
        "bezel_width": Range(0.15, 0.21, 0.18),  # radial width of the bezel's top face, in R
    },
    "floor": {
        "textures": ("wood", 4),  # texture kind and how many variants (clock_textures.FLOOR_KINDS)
        "floor_mean": Range(70.0, 135.0, 100.0),
        "floor_spread": Range(12.0, 52.0, 40.0),  # the texture's standard deviation (realism: floor contrast)
        "floor_softness": Range(0.0, 1.0, 0.2),  # 0 = the sharp texture, 1 = its defocused copy (realism: edges)
        "grain_scale": Range(0.5, 1.45, 1.0),  # texels per R, times the base: small = broad grain
        "grain_aspect": Range(0.8, 1.25, 1.0),  # stretch along one axis, so woven floors are less regular
    },
    "glare": {
        "glare_radius": 0.0,  # 0 = no round glare; else its core radius in R
        "glare_strength": 0.0,
        "glare_halo": Range(0.3, 0.5),  # share of the strength spread four times wider
        "glare_upper_left": 0.6,  # share of glares near a lamp's usual place
        "arc_probability": 0.55,  # bright arcs along the glass's edge
        "glint_probability": 0.7,  # a tiny glint on the bezel
    },
    "camera": {
        "blur": Range(0.0, 0.9, 0.25),  # lens blur, Gaussian sigma in pixels at 150 px
        "noise": Range(0.4, 2.0, 0.8),  # sensor noise sigma, grey levels
        "jpeg_quality": 0,  # 0 = saved losslessly
        "stretch": Range(0.0, 1.0, 0.8),  # grey range stretched towards 0-255 (genuine: min 0-7, max 255)
        "gamma": Range(0.8, 1.25, 1.0),
        "image_gradient": 0.07,  # spread of a brightness gradient across the whole picture
    },
}
GROUPS = tuple(GROUP_DEFAULTS)

# --- The families, the course-like one first in each group --------------------------------------------------------
FAMILIES: tuple[Family, ...] = (
    Family("course_framing", "framing", 3.0, "the course's views: tilt to axis ratio 0.64, off-centre up to 13%"),
    Family("wide_framing", "framing", 1.0, "steeper tilts, wider zoom and off-centre framing, stronger perspective",
           {"scale": Range(0.45, 1.35, 0.85), "axis_ratio": Range(0.5, 1.0), "max_offset": 0.2,
            "distance_jitter": Range(0.6, 1.3)}),
    Family("course_dial", "dial", 3.0, "thin sans-serif numerals 1-12, hour bars, minute dots"),
    Family("serif_dial", "dial", 1.0, "serif numerals 1-12, thin bars", {"face": "serif"}),
    Family("bold_dial", "dial", 1.0, "large bold numerals, thick bars, no minute dots", {"face": "bold"}),
    Family("sparse_dial", "dial", 1.0, "numerals at 12, 3, 6 and 9 only", {"face": "sparse"}),
    Family("roman_dial", "dial", 1.0, "Roman numerals", {"face": "roman"}),
    Family("bar_hands", "hands", 3.0, "square-ended bars as the course's"),
    Family("thin_hands", "hands", 1.0, "narrow bars", {"hand_width": Range(0.5, 0.8, 0.65)}),
    Family("tapered_hands", "hands", 1.0, "hands wide at the hub, narrowing to a point",
           {"shape": "tapered", "hand_width": Range(1.0, 1.5, 1.2)}),
    Family("dark_bezel", "bezel", 3.0, "the course's thick dark-grey bezel"),
    Family("thin_bezel", "bezel", 1.0, "a narrow rim, dark or mid-grey",
           {"bezel_width": Range(0.07, 0.14), "bezel_level": Range(25.0, 110.0, 60.0)}),
    Family("light_bezel", "bezel", 1.0, "a silver or white case",
           {"bezel_level": Range(100.0, 185.0, 140.0), "bezel_width": Range(0.11, 0.22, 0.16)}),
    Family("wood", "floor", 3.0, "planks: grain, growth lines, seams, any orientation"),
    Family("mat", "floor", 2.0, "knitted, ribbed and woven mats", {"textures": ("mat", 3)}),
    Family("paper", "floor", 1.0, "smooth mottled surfaces: paper, cloth, concrete",
           {"textures": ("paper", 2), "floor_spread": Range(8.0, 30.0, 16.0)}),
    Family("photo", "floor", 1.0, "a photographic-looking scene: blobs and soft edges at every scale",
           {"textures": ("photo", 3), "floor_spread": Range(15.0, 45.0, 30.0), "floor_softness": Range(0.0, 1.0, 0.5)}),
    Family("no_glare", "glare", 5.5, "no round reflection (arcs and glints still)"),
    Family("spot_glare", "glare", 1.5, "a small bright reflection of a lamp",
           {"glare_radius": Range(0.08, 0.2, 0.14), "glare_strength": Range(0.75, 1.5)}),
    Family("wash_glare", "glare", 3.0, "a broad soft wash over much of the dial",
           {"glare_radius": Range(0.2, 0.75, 0.35), "glare_strength": Range(0.3, 1.1, 0.7),
            "glare_halo": Range(0.4, 0.8)}),
    Family("clean_camera", "camera", 3.0, "a sharp render: little blur, little noise"),
    Family("soft_camera", "camera", 1.0, "lens blur or defocus", {"blur": Range(0.8, 2.2, 1.2)}),
    Family("noisy_camera", "camera", 1.0, "sensor noise and JPEG artefacts",
           {"noise": Range(2.0, 8.0, 3.5), "jpeg_quality": Range(20.0, 85.0, 60.0), "blur": Range(0.0, 1.0, 0.4)}),
)
BY_NAME = {family.name: family for family in FAMILIES}
_CODES = {family.name: i for i, family in enumerate(FAMILIES)}
GROUP_FAMILIES = {group: tuple(f for f in FAMILIES if f.group == group) for group in GROUPS}


@dataclass(frozen=True)
class Style:
    """Which families the renderer may use; every group keeps at least one."""
    families: frozenset[str] = frozenset(BY_NAME)

    @property
    def text(self) -> str:
        """The canonical text: `all`, or the families left out (`-a,-b`) in the table's order."""
        left_out = [f.name for f in FAMILIES if f.name not in self.families]
        return ",".join(f"-{name}" for name in left_out) if left_out else "all"

    def in_group(self, group: str) -> tuple[Family, ...]:
        return tuple(f for f in GROUP_FAMILIES[group] if f.name in self.families)

    def choose(self, rng: np.random.Generator, group: str) -> Family:
        """One of the group's kept families, by weight."""
        kept = self.in_group(group)
        weights = np.array([f.weight for f in kept])
        return kept[int(rng.choice(len(kept), p=weights / weights.sum()))] if len(kept) > 1 else kept[0]


ALL = Style()


def _unknown(name: str) -> InputError:
    return InputError(None, f"style: unknown family {name!r} (known: {', '.join(BY_NAME)})")


def parse_style(text: str | Style | None) -> Style:
    """A Style from its text (see the module's docstring); a Style passes through, None is `all`.

    An unknown family, an empty text, or a style that leaves a group without any family is bad input."""
    if isinstance(text, Style):
        return text
    items = [item.strip() for item in str("all" if text is None else text).split(",")]
    items = [item for item in items if item]
    if not items:
        raise InputError(None, "style is empty: give `all` or families to leave out (-name) or keep (name)")
    leave, keep = set(), set()
    for item in items:
        if item == "all":
            continue
        name = item.removeprefix("-")
        if name not in BY_NAME:
            raise _unknown(name)
        (leave if item.startswith("-") else keep).add(name)
    kept = set(BY_NAME) - leave
    for group in {BY_NAME[name].group for name in keep}:
        kept -= {f.name for f in GROUP_FAMILIES[group]} - keep
    for group in GROUPS:
        if not any(f.name in kept for f in GROUP_FAMILIES[group]):
            names = ", ".join(f.name for f in GROUP_FAMILIES[group])
            raise InputError(None, f"style {','.join(items)!r} leaves no {group} family (the {group} families are "
                                   f"{names})")
    return Style(frozenset(kept))


def withheld(style: str | Style) -> Style:
    """The style of what `style` leaves out: in each group it leaves families out of, only those families; other
    groups keep all theirs. Train on `style`, test on `withheld(style)`: in those groups, every test clock has a
    family no training clock has."""
    style = parse_style(style)
    if style.families == ALL.families:
        raise InputError(None, "style `all` withholds no family")
    kept = set()
    for group in GROUPS:
        out = {f.name for f in GROUP_FAMILIES[group]} - style.families
        kept |= out or {f.name for f in GROUP_FAMILIES[group]}
    return Style(frozenset(kept))


def keep_only(style: str | Style, name: str) -> Style:
    """The style with `name` the only family of its group (to show or test one family at a time)."""
    style = parse_style(style)
    if name not in BY_NAME:
        raise _unknown(name)
    group = BY_NAME[name].group
    return Style(frozenset(n for n in style.families if BY_NAME[n].group != group) | {name})


def factors(family: Family) -> dict[str, Factor]:
    """The family's factors: its group's defaults with the family's own in their place."""
    return {**GROUP_DEFAULTS[family.group], **family.factors}


def draw(value: Factor, rng: np.random.Generator):
    """A factor's value for one image: ranges and choices are drawn, plain values stand."""
    return value.draw(rng) if isinstance(value, (Range, Choice)) else value


def family_table() -> list[dict[str, str]]:
    """One row per family: group, name, weight, what it looks like and the factors it changes (for docs and logs)."""
    def text(value: Factor) -> str:
        if isinstance(value, Range):
            return f"{value.low:g}-{value.high:g}" + ("" if value.centre is None else f" (centre {value.centre:g})")
        if isinstance(value, Choice):
            return " / ".join(f"{v:g}" for v in value.values) + " (weights " + \
                   ":".join(f"{w:g}" for w in value.weights) + ")"
        return str(value)

    return [{"group": f.group, "family": f.name, "weight": f"{f.weight:g}", "what": f.what,
             "factors": "; ".join(f"{k} {text(v)}" for k, v in f.factors.items()) or "group defaults"}
            for f in FAMILIES]


def family_codes(names) -> np.ndarray:
    """Family names -> their positions in FAMILIES (uint8), to carry the record of a batch cheaply."""
    return np.array([_CODES[name] for name in names], dtype=np.uint8)


def family_names(codes: np.ndarray) -> np.ndarray:
    """Codes from family_codes -> an array of family names of the same shape."""
    names = np.array([f.name for f in FAMILIES])
    return names[np.asarray(codes, dtype=np.intp)]
