"""The made-up field: drivers (codes, numbers, names), teams of two, colours, pace.

Identities do not depend on the seed (the first N drivers are the same in every
demo session, so a viewer recognises them); pace does.
"""

from __future__ import annotations

import colorsys
import string

import numpy as np

from racereplay.model import Driver

_IDENTITY_SEED = 20250316
_TEAMS = (
    ("Arrowline", "#2B6CB0"),
    ("Scuderia Vento", "#D62828"),
    ("Silverstream", "#27F4D2"),
    ("Papaya Works", "#FF8000"),
    ("Emerald Racing", "#229971"),
    ("Blue Comet", "#0093CC"),
    ("Bullhorn", "#6692FF"),
    ("Haraldsen", "#B6BABD"),
    ("Kestrel", "#64C4FF"),
    ("Nordlys", "#52E252"),
    ("Magenta GP", "#E0218A"),
    ("Sunfire", "#FFD200"),
)
_FIRST = (
    "Alex",
    "Bruno",
    "Carla",
    "Dario",
    "Elin",
    "Femi",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mateo",
    "Nils",
    "Oona",
    "Pablo",
)
_ONSETS = ("b", "br", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u", "ar", "en", "el", "or", "is")


def make_drivers(cars: int) -> list[Driver]:
    rng = np.random.default_rng(_IDENTITY_SEED)
    numbers = rng.permutation(np.arange(1, 100))[:cars]
    drivers: list[Driver] = []
    codes: set[str] = set()
    for i in range(cars):
        surname = _surname(rng, codes)
        codes.add(surname[:3].upper())
        team, colour = _team(i // 2)
        first = _FIRST[int(rng.integers(len(_FIRST)))]
        drivers.append(
            Driver(
                code=surname[:3].upper(),
                number=str(int(numbers[i])),
                team=team,
                colour=colour,
                name=f"{first} {surname}",
            )
        )
    return drivers


def make_pace(rng: np.random.Generator, cars: int) -> np.ndarray:
    """Pace factor per car (1 = the ideal profile): teams differ more than team-mates."""
    team = rng.normal(0.0, 0.006, size=(cars + 1) // 2)
    mate = rng.normal(0.0, 0.0025, size=cars)
    return 0.985 + np.repeat(team, 2)[:cars] + mate


def _surname(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        syllables = int(rng.integers(2, 4))
        name = "".join(
            _ONSETS[int(rng.integers(len(_ONSETS)))] + _VOWELS[int(rng.integers(len(_VOWELS)))]
            for _ in range(syllables)
        )
        if name[:3].upper() not in taken and all(c in string.ascii_lowercase for c in name[:3]):
            return name.capitalize()


def _team(index: int) -> tuple[str, str]:
    if index < len(_TEAMS):
        return _TEAMS[index]
    # Beyond the designed teams: evenly spread hues (golden ratio), so colours stay distinct.
    hue = (index * 0.618034) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return f"Team {index + 1}", f"#{int(r * 255):02X}{int(g * 255):02X}{int(b * 255):02X}"
