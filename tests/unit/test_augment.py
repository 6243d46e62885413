"""augment's pure parts: mirror map, aspect rule, crops and their validity check, AutoAugment policy, config."""

from __future__ import annotations

import numpy as np
import pytest

from dcai.augment import geometry, mirror, policies, validity
from dcai.augment.config import ROMAN_MIRROR, AugmentConfig
from dcai.config import ConfigError, load

# ---- mirror ---------------------------------------------------------------------------------------


def test_iv_and_vi_swap_left_right():
    im = np.arange(12, dtype=np.uint8).reshape(3, 4)
    flipped, label = mirror.mirror(im, "iv", "lr", ROMAN_MIRROR)
    assert label == "vi" and np.array_equal(flipped, im[:, ::-1])
    assert mirror.mirror(im, "vi", "lr", ROMAN_MIRROR)[1] == "iv"


@pytest.mark.parametrize("label", ["i", "ii", "iii", "v", "x"])
def test_symmetric_classes_keep_their_label_left_right(label):
    assert mirror.target(label, "lr", ROMAN_MIRROR) == label


def test_up_down_keeps_only_x():
    # a handwritten i, ii or iii is often dotted: flipped up-down, its dots sit below the strokes
    ok = [
        c
        for c in ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x")
        if mirror.target(c, "ud", ROMAN_MIRROR)
    ]
    assert ok == ["x"]
    im = np.arange(6, dtype=np.uint8).reshape(3, 2)
    assert np.array_equal(mirror.mirror(im, "x", "ud", ROMAN_MIRROR)[0], im[::-1])


@pytest.mark.parametrize(
    ("label", "axis"), [("vii", "lr"), ("viii", "lr"), ("ix", "lr"), ("v", "ud"), ("iv", "ud"), ("cat", "lr")]
)
def test_forbidden_flips_are_refused_when_asked_explicitly(label, axis):
    with pytest.raises(mirror.ForbiddenFlip, match=label):
        mirror.mirror(np.zeros((4, 4), np.uint8), label, axis, ROMAN_MIRROR)


def test_unknown_axis_is_refused():
    with pytest.raises(mirror.ForbiddenFlip, match="allowed"):
        mirror.flip(np.zeros((2, 2), np.uint8), "diagonal")


def test_mirror_batch_strict_and_lenient():
    batch = np.arange(3 * 2 * 3, dtype=np.uint8).reshape(3, 2, 3)
    with pytest.raises(mirror.ForbiddenFlip, match="vii"):
        mirror.mirror_batch(batch, ["iv", "vii", "x"], "lr", ROMAN_MIRROR)
    out, labels, kept = mirror.mirror_batch(batch, ["iv", "vii", "x"], "lr", ROMAN_MIRROR, strict=False)
    assert kept.tolist() == [True, False, True] and labels.tolist() == ["vi", "x"]
    assert np.array_equal(out, batch[[0, 2], :, ::-1])


def test_a_map_for_another_dataset_is_just_configuration():
    cfg = AugmentConfig(mirror_map={"lr": {"b": "d", "d": "b"}}, mirror_axes=("lr",))
    assert mirror.target("b", "lr", cfg.mirror_map) == "d"
    assert mirror.target("iv", "lr", cfg.mirror_map) is None  # the Roman defaults are not merged in


# ---- aspect ratio -----------------------------------------------------------------------------------


def test_aspect_rule_threshold_is_strict_and_symmetric():
    h = np.array([100, 100, 175, 176, 100])
    w = np.array([100, 175, 100, 100, 176])
    assert geometry.needs_square(h, w, max_ratio=1.75).tolist() == [False, False, False, True, True]
    assert geometry.needs_square(h, w, max_ratio=1.5).tolist() == [False, True, True, True, True]


def test_square_crop_is_the_shorter_side_centred_on_the_ink():
    im = np.full((60, 200), 255, np.uint8)
    im[20:40, 150:170] = 0  # the ink sits right of centre
    sq, (top, left) = geometry.square_around_ink(im)
    assert sq.shape == (60, 60) and top == 0
    assert left == 130  # ink centre 159.5 - 30, clamped into the image
    assert (sq < 128).sum() == (im < 128).sum()  # all the ink kept
    tall = np.full((300, 50), 255, np.uint8)
    tall[280:295, 10:40] = 0  # ink at the bottom: the window slides down and stops at the edge
    sq, (top, left) = geometry.square_around_ink(tall)
    assert sq.shape == (50, 50) and top == 250 and (sq < 128).sum() == (tall < 128).sum()


def test_ink_works_on_dark_backgrounds_and_blank_images():
    im = np.zeros((40, 100), np.uint8)
    im[10:30, 5:15] = 255
    assert geometry.ink_center(im)[1] == pytest.approx(9.5, abs=0.5)
    assert geometry.ink_center(np.full((10, 30), 200, np.uint8)) == (4.5, 14.5)


# ---- five crops and the validity check --------------------------------------------------------------


def test_five_crops_corners_and_centre():
    im = np.arange(100 * 80, dtype=np.int32).reshape(100, 80)
    crops = geometry.five_crops(im, fraction=0.85)
    assert [c.shape for c in crops] == [(85, 68)] * 5
    tl, tr, bl, br, c = crops
    assert (
        tl[0, 0] == im[0, 0]
        and tr[0, -1] == im[0, -1]
        and bl[-1, 0] == im[-1, 0]
        and br[-1, -1] == im[-1, -1]
    )
    assert c[0, 0] == im[8, 6]


def ink_count_classifier(classes):
    """A fake classifier: the class with as many vertical strokes as dark columns runs in the image."""

    def classify(batch):
        assert batch.dtype == np.uint8 and batch.shape[1:3] == (32, 32)
        dark = (batch < 128).any(axis=1)
        runs = (dark[:, 1:] & ~dark[:, :-1]).sum(axis=1) + dark[:, 0]
        scores = np.zeros((len(batch), len(classes)))
        for i, r in enumerate(runs):
            scores[i, classes.index({1: "i", 2: "ii", 3: "iii"}.get(int(r), "other"))] = 1.0
        return scores

    return classify


def three_strokes(width=90):
    im = np.full((90, width), 255, np.uint8)
    for x in (10, 45, 80):
        im[5:85, x - 3 : x + 3] = 0
    return im


def test_validity_check_discards_a_crop_of_iii_that_reads_as_ii():
    classes = ["i", "ii", "iii", "other"]
    crops = geometry.five_crops(three_strokes(), fraction=0.85)
    ok, predicted = validity.check(
        crops, ["iii"] * 5, classify=ink_count_classifier(classes), classes=classes
    )
    # the corner crops cut a stroke off; only the centre crop still reads III
    assert ok.tolist() == [False, False, False, False, True]
    assert predicted.tolist() == ["ii", "ii", "ii", "ii", "iii"]


def test_validity_check_rejects_a_wrong_classifier_shape_and_unknown_classes():
    with pytest.raises(ConfigError, match=r"\(N, K\)"):
        validity.check(
            [three_strokes()], ["iii"], classify=lambda b: np.zeros((len(b), 2)), classes=["i", "ii", "iii"]
        )
    with pytest.raises(ConfigError, match="does not know"):
        validity.check([three_strokes()], ["xii"], classify=lambda b: b, classes=["i"])


def test_models_from_the_training_engine_make_a_classifier():
    import torch

    def model_fn():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32 * 3, 2))

    torch.manual_seed(0)
    states = [model_fn().state_dict() for _ in range(2)]
    classify = validity.from_engine(model_fn, states, device="cpu")
    crops = geometry.five_crops(three_strokes(), fraction=0.85)
    ok, predicted = validity.check(crops, ["a"] * 5, classify=classify, classes=["a", "b"])
    assert set(predicted) <= {"a", "b"} and ok.tolist() == (predicted == "a").tolist()


def test_crops_without_a_classifier_are_refused_unless_the_check_is_off():
    cfg = AugmentConfig(sources={"crop": 5})
    with pytest.raises(ConfigError, match="validate_crops=false"):
        validity.require(None, cfg.needs_classifier())
    assert AugmentConfig(sources={"crop": 5}, validate_crops=False).needs_classifier() == []


def test_resize_batch_matches_the_fixed_models_resize():
    im = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    out = geometry.resize_batch([im, im[:2]], 2)
    assert out.shape == (2, 2, 2)
    # half-pixel centres without antialiasing: 2x downscale averages the inner 2x2 neighbourhoods
    assert out[0].tolist() == [[40, 72], [168, 200]]
    assert geometry.resize_batch([im, np.zeros((3, 3, 3), np.uint8)], 8).shape == (2, 8, 8, 3)


# ---- AutoAugment ------------------------------------------------------------------------------------


def test_svhn_policy_has_no_solarize_or_invert():
    policy = policies.svhn_policy()
    names = {name for sub in policy for name, _, _ in sub}
    assert not names & {"Solarize", "Invert"}
    assert {"ShearX", "ShearY", "Rotate", "Equalize"} <= names
    assert len(policy) == 25 and sum(len(sub) == 1 for sub in policy) == 17


def test_svhn_policy_knobs_scale_probabilities_and_magnitudes():
    policy = policies.svhn_policy(prob_scale=2.0, magnitude_scale=0.0)
    assert all(p <= 1.0 and (m is None or m == 0) for sub in policy for _, p, m in sub)
    assert policies.svhn_policy(drop=()) != policies.svhn_policy()


def test_autoaugment_is_seeded_and_keeps_shape_and_background():
    im = three_strokes(120)
    policy = policies.svhn_policy()
    a = policies.autoaugment(im, policy=policy, seed=7)
    assert a.shape == im.shape and a.dtype == np.uint8
    assert np.array_equal(a, policies.autoaugment(im, policy=policy, seed=7))
    assert any(not np.array_equal(im, policies.autoaugment(im, policy=policy, seed=s)) for s in range(5))
    rgb = np.repeat(im[..., None], 3, axis=2)
    assert policies.autoaugment(rgb, policy=policy, seed=7).shape == rgb.shape


def test_heavy_is_the_engines_augmentation_seeded_on_the_images_own_paper():
    im = three_strokes(120)
    out = policies.heavy(im, copies=3, seed=5)
    assert out.shape == (3, *im.shape) and out.dtype == np.uint8
    assert np.array_equal(out, policies.heavy(im, copies=3, seed=5))
    assert not np.array_equal(out[0], out[1])
    dark = 255 - im  # light ink on a dark background: spots and lines take the opposite colours
    assert policies.heavy(dark, copies=1, seed=5, options={"black_spots": 0.0, "lines": 0.0}).mean() < 128


# ---- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sources": {"gan": 3}}, "allowed"),
        ({"sources": {"crop": -1}}, ">= 0"),
        ({"mirror_axes": ("diag",)}, "allowed"),
        ({"crop_positions": ("middle",)}, "allowed"),
        ({"crop_fraction": 1.2}, "crop_fraction"),
        ({"classifier": "no_colon"}, "module:factory"),
    ],
)
def test_config_errors_name_the_allowed_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        AugmentConfig(**changes)


def test_tiny_preset_and_set_overrides_load():
    cfg = load(AugmentConfig, preset="tiny", sets=["sources.crop=2", "validate_crops=false"])
    assert (
        cfg.count("crop") == 2
        and cfg.count("mirror") == 3
        and cfg.count("heavy") == 2
        and not cfg.validate_crops
    )


def test_affine_and_elastic_warps_keep_shape_background_and_seed():
    from dcai.augment import policies

    im = np.full((60, 40), 255, np.uint8)
    im[10:50, 18:22] = 0  # one stroke
    a = policies.warp(im, seed=3)
    b = policies.warp(im, seed=3)
    e = policies.warp(im, seed=3, elastic=0.05)
    assert a.shape == im.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, e)  # the warp moves the strokes
    assert a[0, 0] == 255 and e[0, 0] == 255  # corners filled with the page, not black
    assert 0.5 * (im < 128).sum() < (e < 128).sum() < 2.0 * (im < 128).sum()  # the ink survives
    rgb = policies.warp(np.stack([im] * 3, -1), seed=1, elastic=0.03)
    assert rgb.shape == (60, 40, 3)
