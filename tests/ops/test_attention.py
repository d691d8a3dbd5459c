"""transmix_lambda, progressive_attention_lambda, tl_align_lambda against the official vectors."""

import numpy as np
import pytest
import tensorflow as tf

import kmix
from tests.vectors import array
from tests.vectors import load


def smoothed_one_hot(labels, k, s):
    y = np.full((len(labels), k), s / k)
    y[np.arange(len(labels)), labels] = 1 - s + s / k
    return y


def transmix_cases():
    data = load("transmix")
    shared = array(data["shared_inputs"]["attn_cls_rows_per_head_224"])
    return [(c, shared) for c in data["cases"]]


@pytest.mark.parametrize("case, shared", transmix_cases(), ids=lambda c: c["name"] if isinstance(c, dict) else "")
def test_transmix_lambda_matches_the_official_targets(case, shared):
    inputs, outputs = case["inputs"], case["outputs"]
    height, width = inputs["image_hw"]
    batch = len(array(inputs["labels"]))
    if "attn_full" in inputs:
        attn = array(inputs["attn_full"])[:, :, 0, 1:].mean(axis=1)
    else:
        attn = shared[:, :, 1:].mean(axis=1)
    np.testing.assert_allclose(attn, array(outputs["attn_cls_headmean"]), atol=1e-6)
    # Own-pixel mask of a: 0 inside the pasted box; the official box is shared by the batch.
    box = tf.constant([inputs["box_yl_yh_xl_xh"]] * batch)
    mask = kmix.ops.box_mask(box, height, width)
    lam = tf.reduce_mean(mask, axis=[1, 2, 3])
    tokens = kmix.ops.token_mask(mask, inputs["patch_size"])
    own = kmix.ops.transmix_lambda(lam, tokens, attn.astype("float32")).numpy()
    # Official lam_b is the share of the pasted image b; ours is 1 - lam_b.
    np.testing.assert_allclose(own, 1.0 - array(outputs["lam_b"]), atol=1e-6)
    labels = array(inputs["labels"]).astype(int)
    ya = smoothed_one_hot(labels, inputs["num_classes"], inputs["label_smoothing"])
    target = own[:, None] * ya + (1 - own)[:, None] * ya[::-1]
    np.testing.assert_allclose(target, array(outputs["target"]), atol=1e-6)


def test_transmix_missed_box_gives_zero_attention_share():
    case = [c for c in load("transmix")["cases"] if c["name"] == "tiny_box_misses_all_samples"][0]
    mask = kmix.ops.box_mask(tf.constant([case["inputs"]["box_yl_yh_xl_xh"]]), 64, 64)
    # The box covers pixels but none of the top-left sample points: every token is own.
    assert kmix.ops.token_mask(mask, 16).numpy().min() == 1.0


@pytest.mark.parametrize("case", load("mixpro")["cases"], ids=lambda c: c["name"])
def test_progressive_attention_lambda_matches_mixpro_pal(case):
    inputs, outputs = case["inputs"], case["outputs"]
    grid = array(outputs["mask_grid"]).astype("float32")
    cells = grid.shape[1]
    # MaskMix's pixel mask (cells repeated, cropped) -> tokens via the top-left pixel rule.
    size = inputs["mask_patch_size"]
    pixel = np.repeat(np.repeat(grid, size, 1), size, 2)
    pixel = pixel[:, : inputs["image_size"], : inputs["image_size"], None]
    tokens = kmix.ops.token_mask(tf.constant(pixel, tf.float32), inputs["model_patch_size"])
    np.testing.assert_array_equal(tokens.numpy().reshape(array(outputs["token_mask_a"]).shape),
                                  array(outputs["token_mask_a"]))
    lam_area = grid.reshape(len(grid), -1).sum(1) / cells**2
    np.testing.assert_allclose(lam_area, array(outputs["mask_ratio_a"]), atol=1e-6)
    targets = array(outputs["mix_targets"]).astype("float32")
    logits = array(inputs["logits"]).astype("float32")
    probabilities = tf.nn.softmax(logits).numpy()
    attn = array(inputs["attn_cls_headmean"]).astype("float32")
    lam = kmix.ops.progressive_attention_lambda(
        lam_area.astype("float32"), tokens, attn, targets, probabilities
    ).numpy()
    np.testing.assert_allclose(lam, array(outputs["lam_pal_a"]), atol=1e-6)
    # The PAL loss: lam * CE(y_a) + (1 - lam) * CE(y_partner) with hard labels.
    labels = array(inputs["labels"]).astype(int)
    partner = array(inputs["partner_index"]).astype(int)
    log_p = tf.nn.log_softmax(logits).numpy()
    rows = np.arange(len(labels))
    loss = np.mean(lam * -log_p[rows, labels] + (1 - lam) * -log_p[rows, labels[partner]])
    np.testing.assert_allclose(loss, outputs["pal_loss"], atol=1e-5)


@pytest.mark.parametrize("case", load("tl_align")["cases"], ids=lambda c: c["name"])
def test_tl_align_lambda_matches_the_official_cls_target(case):
    inputs, outputs = case["inputs"], case["outputs"]
    attentions = array(inputs["attn_per_block_per_head"]).mean(axis=2).astype("float32")
    batch = attentions.shape[1]
    token_mask_b = array(outputs["token_mask_b"])
    own = np.broadcast_to(1.0 - token_mask_b, (batch, token_mask_b.size)).astype("float32")
    lam = np.full([batch], outputs["lam_area_a"], "float32")
    w = kmix.ops.tl_align_lambda(lam, own, attentions).numpy()
    labels = array(inputs["labels"]).astype(int)
    ya = smoothed_one_hot(labels, inputs["num_classes"], inputs["label_smoothing"])
    target = w[:, None] * ya + (1 - w)[:, None] * ya[::-1]
    np.testing.assert_allclose(target, array(outputs["final_cls_target"]), atol=1e-6)


def test_tl_align_closed_form_equals_the_label_propagation():
    rng = np.random.default_rng(0)
    layers, batch, tokens, classes = 3, 2, 5, 4
    logits = rng.normal(size=(layers, batch, tokens + 1, tokens + 1))
    attentions = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    own = (rng.random((batch, tokens)) < 0.5).astype("float32")
    lam = own.mean(1)
    ya, yb = np.eye(classes)[[0, 1]], np.eye(classes)[[2, 3]]
    labels = np.where(own[..., None] == 1, ya[:, None], yb[:, None])
    labels = np.concatenate([(lam[:, None] * ya + (1 - lam[:, None]) * yb)[:, None], labels], 1)
    for a in attentions:
        labels = 0.5 * (a @ labels + labels)
    w = kmix.ops.tl_align_lambda(lam, own, attentions.astype("float32")).numpy()
    np.testing.assert_allclose(labels[:, 0], w[:, None] * ya + (1 - w[:, None]) * yb, atol=1e-6)


def test_gradients_are_stopped_and_xla_compiles():
    attn = tf.Variable(tf.random.uniform([2, 4]))
    full = tf.Variable(tf.random.uniform([2, 2, 5, 5]))
    probs = tf.Variable(tf.nn.softmax(tf.random.normal([2, 3])))
    lam, own, targets = tf.constant([0.5, 0.25]), tf.constant([[1.0, 0, 0, 1], [0, 1, 0, 0]]), tf.eye(3)[:2]
    with tf.GradientTape(persistent=True) as tape:
        a = kmix.ops.transmix_lambda(lam, own, attn)
        b = kmix.ops.progressive_attention_lambda(lam, own, attn, targets, probs)
        c = kmix.ops.tl_align_lambda(lam, own, full)
    assert tape.gradient(a, attn) is None
    assert tape.gradient(b, [attn, probs]) == [None, None]
    assert tape.gradient(c, full) is None

    @tf.function(jit_compile=True)
    def compiled(attn, full, probs):
        return (kmix.ops.transmix_lambda(lam, own, attn),
                kmix.ops.progressive_attention_lambda(lam, own, attn, targets, probs),
                kmix.ops.tl_align_lambda(lam, own, full))

    for eager, xla in zip((a, b, c), compiled(attn, full, probs)):
        np.testing.assert_allclose(eager, xla, atol=1e-6)


def test_blend_token_mask_broadcasts():
    attn = tf.random.uniform([2, 4])
    lam = tf.constant([0.3, 0.8])
    out = kmix.ops.transmix_lambda(lam, lam[:, None], attn)
    np.testing.assert_allclose(out, lam, atol=1e-6)


def test_errors_name_the_argument():
    lam, own = tf.constant([0.5]), tf.ones([1, 16])
    with pytest.raises(ValueError, match=r"`token_mask` must have one value per patch token of `cls_attention` \(4 tokens\), or 1 for a blend\. Received: token_mask.shape=\(1, 16\) and cls_attention.shape=\(1, 4\)"):
        kmix.ops.transmix_lambda(lam, own, tf.ones([1, 4]))
    with pytest.raises(ValueError, match=r"`token_mask` must have one value per patch token of `attentions` \(4 tokens\).*attentions.shape=\(2, 1, 5, 5\)"):
        kmix.ops.tl_align_lambda(lam, own, tf.ones([2, 1, 5, 5]))
    with pytest.raises(ValueError, match=r"`attentions` must have shape \(L, B, T, T\)\. Received: attentions.shape=\(1, 17, 17\)"):
        kmix.ops.tl_align_lambda(lam, own, tf.ones([1, 17, 17]))
    with pytest.raises(ValueError, match=r"`lam` must have shape \(B,\)\. Received: lam.shape=\(\)"):
        kmix.ops.transmix_lambda(0.5, own, tf.ones([1, 16]))
    with pytest.raises(ValueError, match=r"`targets` and `probabilities` must have the same number of classes\. Received: targets.shape=\(1, 3\) and probabilities.shape=\(1, 2\)"):
        kmix.ops.progressive_attention_lambda(lam, own, tf.ones([1, 16]), tf.ones([1, 3]), tf.ones([1, 2]))
