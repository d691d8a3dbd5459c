"""The main job (`python -m kmix.demo`) in its quick mode."""

import pytest

from kmix import demo


@pytest.mark.slow
def test_main_job_quick_mode_writes_the_table_and_both_pictures(tmp_path, capsys):
    # No mixer, and a mixer with a label layer: the two paths of the job (each
    # loss is fitted in a MixingModel by tests/losses).
    chosen = ["none", "TransMix"]
    assert demo.main(["--quick", "--out", str(tmp_path), "--methods", ",".join(chosen)]) == 0
    text = (tmp_path / "results.md").read_text()
    for name in chosen:
        assert f"| {name} |" in text
    assert "| MixUp |" not in text
    assert "ECE (%)" in text
    assert text.startswith(demo.SMOKE_TEST_NOTE)
    assert "not results" in capsys.readouterr().out
    for picture in ("gallery.png", "gallery_cutmix.png", "reliability.png"):
        data = (tmp_path / picture).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_every_issue_method_is_in_the_main_job():
    names = set(demo.methods())
    assert {"none", "MixUp", "CutMix", "FMix", "TransMix", "MixPro (MaskMix + PAL)",
            "Decoupled Mixup", "RankMixup (MRL)"} <= names


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"`--methods` must name methods among .*Received unknown: \['Nope'\]"):
        demo.main(["--quick", "--out", str(tmp_path), "--methods", "none,Nope"])
