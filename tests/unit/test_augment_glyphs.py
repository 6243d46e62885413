"""Erase-and-recompose on numerals drawn with PIL: glyph counts, spelling, recomposition."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dcai.augment import glyphs


def draw_numeral(
    text: str, *, height: int = 64, glyph_w: int = 16, gap: int = 8, margin: int = 10, stroke: int = 4
) -> np.ndarray:
    """A ``(H, W)`` uint8 Roman numeral: black strokes (i, v, x) on white, one glyph per character."""
    width = 2 * margin + len(text) * glyph_w + (len(text) - 1) * gap
    img = Image.new("L", (width, height), 255)
    d = ImageDraw.Draw(img)
    top, bottom, x = 10, height - 10, margin
    for c in text:
        mid = x + glyph_w // 2
        if c == "i":
            d.line([(mid, top), (mid, bottom)], fill=0, width=stroke)
        elif c == "v":
            d.line([(x, top), (mid, bottom), (x + glyph_w, top)], fill=0, width=stroke)
        elif c == "x":
            d.line([(x, top), (x + glyph_w, bottom)], fill=0, width=stroke)
            d.line([(x, bottom), (x + glyph_w, top)], fill=0, width=stroke)
        else:
            raise ValueError(f"cannot draw {c!r}")
        x += glyph_w + gap
    return np.asarray(img).copy()


@pytest.mark.parametrize("text", ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"])
def test_segment_finds_one_glyph_per_character(text):
    assert len(glyphs.segment(draw_numeral(text))) == len(text)


def test_segment_ignores_specks_and_blank_images():
    im = draw_numeral("ii")
    im[2, 2] = 0  # a one-pixel speck is not a glyph
    assert len(glyphs.segment(im)) == 2
    assert glyphs.segment(np.full((20, 20), 255, np.uint8)) == []


@pytest.mark.parametrize(("source", "chain"), [("viii", ["iii", "ii", "i"]), ("iii", ["ii", "i"])])
def test_erasing_glyphs_walks_down_the_chain(source, chain):
    image, label = draw_numeral(source), source
    rng = np.random.default_rng(0)
    for target in chain:
        new, desc = glyphs.compose(image, label, target, rng=rng)
        assert new is not None, desc
        assert new.shape[0] == image.shape[0] and new.shape[1] >= image.shape[1] - 1
        assert len(glyphs.segment(new)) == len(target)
        image, label = new, target


def test_erasing_keeps_the_strokes_of_the_kept_glyphs():
    image = draw_numeral("viii")
    new, _ = glyphs.compose(image, "viii", "iii", rng=np.random.default_rng(0))
    # the three I's keep their ink; the V's ink is gone
    assert (new < 128).sum() == sum(g.mask.sum() for g in glyphs.segment(image)[1:])


@pytest.mark.parametrize(
    ("source", "target", "widths"), [("iv", "vi", "wn"), ("iv", "vii", "wnn"), ("vi", "vii", "wnn")]
)
def test_recombining_builds_new_numerals(source, target, widths):
    new, desc = glyphs.compose(draw_numeral(source), source, target, rng=np.random.default_rng(1))
    assert new is not None, desc
    parts = glyphs.segment(new)
    assert len(parts) == len(target)
    # a V is wide, an I narrow: the order of the new glyphs spells the target
    assert "".join("w" if g.mask.shape[1] > 10 else "n" for g in parts) == widths


def test_choose_prefers_erasing_and_refuses_the_impossible():
    rng = np.random.default_rng(0)
    assert glyphs.choose("viii", "iii", rng) == [1, 2, 3]
    assert glyphs.choose("viii", "vi", rng) == [0, 1]
    assert glyphs.choose("iv", "vi", rng) == [1, 0]
    assert glyphs.choose("ii", "v", rng) is None
    assert glyphs.choose("ii", "ii", rng) is None


def test_compose_reports_unsegmentable_parents():
    new, desc = glyphs.compose(draw_numeral("ii"), "iii", "ii", rng=np.random.default_rng(0))
    assert new is None and "unsegmentable" in desc


def test_recompose_on_colour_images():
    rgb = np.repeat(draw_numeral("vii")[..., None], 3, axis=2)
    new, _ = glyphs.compose(rgb, "vii", "ii", rng=np.random.default_rng(0))
    assert new.ndim == 3 and len(glyphs.segment(new)) == 2
