"""The port against the official script's own TensorFlow / Keras functions (run by ``tests/tf/run.sh``).

Resize (``tf.image.resize`` and the whole ``image_dataset_from_directory`` loader), Keras'
``preprocess_input``, the cut ResNet50 with its weights copied into :class:`FixedNet` (inference and
training-mode BatchNorm) and Keras' Adam.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from dcai.models import inputs  # noqa: E402
from dcai.models.fixed import FixedNet, preprocess  # noqa: E402
from dcai.train.optim import StackedAdam  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ROMAN = ROOT.parent / "shared" / "data" / "dcai-roman"
keras = tf.keras
MEASURED: dict[str, float] = {}  # max abs differences, written for BENCHMARKS.md by the fixture below


@pytest.fixture(scope="module", autouse=True)
def _write_measurements():
    yield
    import json
    import platform

    out = ROOT / "bench" / "results" / "tf_parity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    versions = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    out.write_text(json.dumps({"max_abs_diff": MEASURED, "versions": versions}, indent=2))


def _roman_files(n_per_class: int = 3) -> list[Path]:
    if not (ROMAN / "train").is_dir():
        pytest.skip(f"competition data not found at {ROMAN}")
    files = []
    for c in sorted(p for p in (ROMAN / "train").iterdir() if p.is_dir()):
        files += sorted(c.glob("*.png"))[:n_per_class]
    return files


def test_resize_matches_tf_image_resize_on_competition_images():
    worst = 0.0
    for f in _roman_files():
        img = tf.io.decode_image(tf.io.read_file(str(f)), channels=3, expand_animations=False)
        ref = tf.image.resize(img, (32, 32)).numpy()  # the loader's call: bilinear, no antialias
        worst = max(worst, float(np.abs(inputs.load(str(f)) - ref).max()))
    MEASURED["tf.image.resize, 30 competition images"] = worst
    print(f"resize: max abs diff vs tf.image.resize over competition images = {worst:.2e}")
    assert worst <= 1e-3


@pytest.mark.parametrize("shape", [(7, 5), (32, 32), (33, 95), (300, 41), (1000, 700)])
def test_resize_matches_tf_on_odd_sizes(shape):
    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ref = tf.image.resize(img, (32, 32)).numpy()
    assert np.abs(inputs.resize(img) - ref).max() <= 1e-3


def test_whole_official_loader_matches(tmp_path):
    """``image_dataset_from_directory(image_size=(32, 32))``, the function the official script calls."""
    if not (ROMAN / "label_book").is_dir():
        pytest.skip(f"competition data not found at {ROMAN}")
    ds = keras.utils.image_dataset_from_directory(
        str(ROMAN / "label_book"),
        labels="inferred",
        label_mode="int",
        shuffle=False,
        batch_size=8,
        image_size=(32, 32),
    )
    ref = np.concatenate([x.numpy() for x, _ in ds])
    ours = np.stack([inputs.load(p) for p in ds.file_paths])
    MEASURED["image_dataset_from_directory, label book"] = float(np.abs(ours - ref).max())
    print(f"loader: max abs diff over {len(ours)} label-book images = {np.abs(ours - ref).max():.2e}")
    assert np.abs(ours - ref).max() <= 1e-3


def test_preprocess_matches_keras_caffe():
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    ref = keras.applications.resnet.preprocess_input(x.copy())
    ours = preprocess(torch.from_numpy(x).permute(0, 3, 1, 2), torch.tensor([103.939, 116.779, 123.68]))
    MEASURED["preprocess_input (caffe)"] = float(np.abs(ours.permute(0, 2, 3, 1).numpy() - ref).max())
    assert MEASURED["preprocess_input (caffe)"] <= 1e-4


def _keras_fixed_model(num_classes: int = 10):
    """The official script's model, verbatim in structure."""
    base = keras.applications.ResNet50(input_shape=(32, 32, 3), include_top=False, weights=None)
    # The script passes outputs=[...]; Keras 3 would then return a one-element list, TF 2.5 a tensor.
    base = keras.Model(base.inputs, outputs=base.get_layer("conv2_block3_out").output)
    inp = keras.Input(shape=(32, 32, 3))
    x = keras.applications.resnet.preprocess_input(inp)
    x = base(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(num_classes)(x)
    return keras.Model(inp, x), base


def _torch_name(keras_name: str) -> str:
    if keras_name.startswith("conv1_"):
        return {"conv1_conv": "conv1", "conv1_bn": "conv1_bn"}[keras_name]
    block, part = keras_name[:12], keras_name[13:]  # "conv2_block1", "0_conv"
    sub = {
        "0_conv": "shortcut.0",
        "0_bn": "shortcut.1",
        "1_conv": "conv1",
        "1_bn": "bn1",
        "2_conv": "conv2",
        "2_bn": "bn2",
        "3_conv": "conv3",
        "3_bn": "bn3",
    }[part]
    return f"{block}.{sub}"


def _copy_weights(model, base, ours: FixedNet, rng: np.random.Generator) -> None:
    """Keras → torch by layer name; BN statistics randomised first so inference really tests them."""
    state = {}
    for layer in base.layers:
        w = layer.get_weights()
        if not w:
            continue
        name = _torch_name(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            c = w[0].shape[0]
            w = [
                rng.uniform(0.5, 1.5, c),
                rng.normal(0, 0.1, c),
                rng.normal(0, 0.5, c),
                rng.uniform(0.5, 2.0, c),
            ]
            w = [a.astype(np.float32) for a in w]
            layer.set_weights(w)
            for key, a in zip(("weight", "bias", "running_mean", "running_var"), w):
                state[f"{name}.{key}"] = torch.from_numpy(a)
        else:
            kernel, bias = w
            if not np.any(bias):  # Keras initialises biases to zero: give them values worth copying
                bias = rng.normal(0, 0.05, bias.shape).astype(np.float32)
                layer.set_weights([kernel, bias])
            state[f"{name}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
            state[f"{name}.bias"] = torch.from_numpy(bias)
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    state["fc.weight"], state["fc.bias"] = torch.from_numpy(kernel.T.copy()), torch.from_numpy(bias)
    missing = (
        set(ours.state_dict())
        - set(state)
        - {k for k in ours.state_dict() if k.endswith("num_batches_tracked")}
    )
    assert not missing, missing
    ours.load_state_dict(state, strict=False)


def test_model_with_copied_weights_gives_the_same_logits():
    keras.utils.set_random_seed(0)
    model, base = _keras_fixed_model()
    ours = FixedNet(10)
    _copy_weights(model, base, ours, np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    ours.eval()
    with torch.no_grad():
        got = ours(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    ref = model(x, training=False).numpy()
    diff = np.abs(got - ref).max()
    MEASURED["logits, Keras weights copied, inference"] = float(diff)
    print(f"inference logits: max abs diff = {diff:.2e} (logits up to {np.abs(ref).max():.2f})")
    assert diff <= 1e-4

    # Training mode: batch statistics for the output, moving averages updated with momentum 0.99.
    bn = base.get_layer("conv2_block1_1_bn")
    before = bn.moving_mean.numpy().copy()
    ref_train = model(x, training=True).numpy()
    ours.train()
    with torch.no_grad():
        got_train = ours(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    MEASURED["logits, training-mode BatchNorm"] = float(np.abs(got_train - ref_train).max())
    assert np.abs(got_train - ref_train).max() <= 1e-3 * max(1.0, np.abs(ref_train).max())
    keras_step = bn.moving_mean.numpy() - before
    ours_step = ours.conv2_block1.bn1.running_mean.numpy() - before
    assert np.allclose(ours_step, keras_step, rtol=1e-3, atol=1e-6)


def test_adam_matches_keras():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(5, 3)).astype(np.float32)
    grads = [rng.normal(scale=10.0 ** -rng.integers(0, 6), size=(5, 3)).astype(np.float32) for _ in range(20)]
    var = tf.Variable(p0)
    opt = keras.optimizers.Adam(learning_rate=1e-4, epsilon=1e-7)
    ours = torch.from_numpy(p0.copy())[None]  # one stacked model
    adam = StackedAdam([ours], lr=1e-4, eps=1e-7)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
        adam.step([torch.from_numpy(g)[None]], torch.ones(1))
    diff = np.abs(ours[0].numpy() - var.numpy()).max()
    MEASURED["Adam, 20 steps"] = float(diff)
    print(f"adam: max abs diff after 20 steps = {diff:.2e}")
    assert diff <= 1e-7
