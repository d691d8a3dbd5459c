import pytest

from kmix import demo


@pytest.mark.slow
def test_main_job_quick_mode_writes_the_table(tmp_path):
    assert demo.main(["--quick", "--out", str(tmp_path), "--methods", "none,CutMix,MixUp or CutMix"]) == 0
    text = (tmp_path / "results.md").read_text()
    assert "| CutMix |" in text and "| MixUp or CutMix |" in text and "| none |" in text
