"""The main job (`python -m kmix.demo`): its quick mode, its statistics and its seed resets."""

import math

import numpy as np
import pytest
from scipy import stats

from kmix import demo

PICTURES = ("learning_curves.png", "differences.png", "reliability.png", "gallery.png",
            "gallery_cutmix.png")


@pytest.mark.slow
def test_main_job_quick_mode_writes_the_tables_and_every_picture(tmp_path, capsys):
    # No mixer, and a mixer with a label layer: the two paths of the job (each
    # loss is fitted in a MixingModel by tests/losses). "none" is listed last:
    # it comes first anyway, as every difference is paired with it.
    chosen = ["TransMix", "none"]
    assert demo.main(["--quick", "--out", str(tmp_path), "--methods", ",".join(chosen)]) == 0
    text = (tmp_path / "results.md").read_text()
    assert text.startswith(demo.SMOKE_TEST_NOTE)
    table = text[text.index("| method | top-1 accuracy (%) | NLL | ECE (%) |"):]
    rows = [line for line in table.splitlines()[2:4]]
    assert rows[0].startswith("| none | ") and rows[1].startswith("| TransMix | ")
    assert all(line.count(" ± ") == 3 for line in rows)
    assert "| MixUp |" not in text
    assert "| method | Δ top-1 accuracy (points) | Δ NLL | Δ ECE (points) |" in text
    assert "| method | temperature | ECE before (%) | ECE after (%) | NLL after |" in text
    assert "- TransMix vs none. " in text and "the seed spread" in text
    assert "Final training accuracy" in text
    printed = capsys.readouterr().out
    assert "not results" in printed
    for picture in PICTURES:
        path = tmp_path / picture
        assert f"Wrote {path}" in printed
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


@pytest.mark.slow
def test_a_reset_model_trains_exactly_as_a_freshly_built_one(monkeypatch):
    # Compiling once per method is only sound if seed 1 after seed 0 gives
    # what seed 1 gives on a model that never trained. The reset copies every
    # variable whatever the size, so a one-block ViT shows it at a third of
    # the tracing time.
    monkeypatch.setattr(demo.protocol, "VIT", dict(demo.protocol.VIT, dim=16, depth=1, num_heads=2))
    data = demo.load_data()
    method = demo.methods()["MixUp"]  # a mixer with its own seed generator
    reused = demo.MethodRunner("MixUp", method, data, epochs=1, steps_per_epoch=2, jit_compile=False)
    reused.run(0)
    second, second_curve = reused.run(1)
    weights = [v.numpy() for v in reused.model.variables]
    fresh = demo.MethodRunner("MixUp", method, data, epochs=1, steps_per_epoch=2, jit_compile=False)
    first, first_curve = fresh.run(1)
    for a, b in zip(weights, [v.numpy() for v in fresh.model.variables]):
        np.testing.assert_array_equal(a, b)
    for key in ("accuracy", "nll", "ece", "temperature", "train_accuracy"):
        assert second[key] == first[key], key
    assert second_curve == first_curve
    assert int(reused.model.optimizer.iterations.numpy()) == 2


def test_t_quantiles_match_scipy():
    for dof in range(1, 80):
        assert demo.t_quantile_975(dof) == pytest.approx(stats.t.ppf(0.975, dof), abs=3e-3)
    assert math.isnan(demo.t_quantile_975(0))


def test_paired_difference_is_the_t_interval_of_the_per_seed_differences():
    values, baseline = [0.91, 0.93, 0.95, 0.90], [0.90, 0.90, 0.93, 0.89]
    mean, lo, hi = demo.paired_difference(values, baseline)
    diff = np.subtract(values, baseline)
    low, high = stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff))
    assert mean == pytest.approx(diff.mean())
    assert (lo, hi) == pytest.approx((low, high), abs=1e-4)
    assert demo.summarise([1.0, 2.0, 4.0]) == pytest.approx((7 / 3, np.std([1, 2, 4], ddof=1)))


def _row(accuracy_diff, nll_diff, ece_diff, ece=(0.05, 0.01)):
    return {"diff": {"accuracy": accuracy_diff, "nll": nll_diff, "ece": ece_diff}, "ece": ece}


def test_sentences_say_which_differences_exceed_the_seed_spread():
    rows = {
        "none": _row((0, 0, 0), (0, 0, 0), (0, 0, 0), ece=(0.03, 0.01)),
        "MixUp": _row((0.01, 0.004, 0.016), (-0.02, -0.05, 0.01), (0.08, 0.05, 0.11), ece=(0.11, 0.01)),
        "RankMixup (MRL)": _row((0.005, -0.01, 0.02), (-0.03, -0.04, -0.02), (-0.01, -0.02, 0.001),
                                ece=(0.02, 0.005)),
    }
    sentences = demo.read_differences(rows, seeds=3)
    mixup = next(s for s in sentences if s.startswith("MixUp vs none. Beyond the seed spread: "))
    beyond, within = mixup.split("Within the seed spread")
    assert "top-1 accuracy +1.0 points [+0.4, +1.6] (better)" in beyond
    assert "ECE +8.0 points [+5.0, +11.0] (worse)" in beyond
    assert "NLL -0.020 [-0.050, +0.010]" in within
    rank = next(s for s in sentences if s.startswith("RankMixup (MRL) vs none"))
    assert "NLL -0.030 [-0.040, -0.020] (better)" in rank.split("Within")[0]
    assert "RankMixup's ECE (2.00 ± 0.50%) is below MixUp's (11.00 ± 1.00%)." in sentences
    assert demo.read_differences(rows, seeds=1) == [
        "With one seed there is no spread to compare differences with."]


def test_every_issue_method_is_in_the_main_job():
    names = set(demo.methods())
    assert {"none", "MixUp", "CutMix", "FMix", "TransMix", "MixPro (MaskMix + PAL)",
            "Decoupled Mixup", "RankMixup (MRL)"} <= names
    assert {"none", "MixUp", "CutMix", "TransMix", "RankMixup (MRL)"} <= set(demo.DEFAULT_METHODS)


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"`--methods` must name methods among .*Received unknown: \['Nope'\]"):
        demo.main(["--quick", "--out", str(tmp_path), "--methods", "none,Nope"])


def test_non_positive_seeds_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"`--seeds` must be an int >= 1. Received: --seeds=-1"):
        demo.main(["--quick", "--out", str(tmp_path), "--seeds", "-1"])
