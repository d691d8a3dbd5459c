"""Every examples/*.py runs offline in quick mode and writes the files it says it writes."""

import importlib.util
import pathlib
import re
import runpy
import sys
import types

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
WROTE = re.compile(r"^Wrote (.+)$", re.M)
HEADER_FIELDS = ("Title:", "Author:", "Date created:", "Last modified:", "Description:", "Accelerator: None")


def _written_files(result, out):
    paths = [pathlib.Path(p.strip()) for p in WROTE.findall(result.stdout)]
    for path in paths:
        assert path.is_file(), f"{path} was announced but not written"
        assert path.stat().st_size > 0, f"{path} is empty"
        assert out in path.parents, f"{path} is outside --out {out}"
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return paths


def test_there_are_examples():
    names = {path.name for path in EXAMPLES}
    assert {
        "cutmix_in_sequential.py",
        "tf_data_random_mix_choice.py",
        "masks_side_by_side.py",
        "tfds_pipeline.py",
        "mixing_losses_fit.py",
        "vit_attention_labels.py",
    } <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_header_is_keras_io_style(script):
    text = script.read_text()
    assert text.startswith('"""\nTitle: ')
    header = text.split('"""')[1]
    for field in HEADER_FIELDS:
        assert f"\n{field}" in header, f"{script.name}: no {field!r} in the header"
    # The backend is chosen before anything imports Keras (kmix does).
    setdefault = text.index('os.environ.setdefault("KERAS_BACKEND", "tensorflow")')
    keras_imports = [text.index(s) for s in ("\nimport keras", "\nimport kmix") if s in text]
    assert keras_imports and setdefault < min(keras_imports)
    assert text.index("import os") < setdefault
    assert '"""\n## ' in text, f"{script.name} has no ## section cells"


def _run_in_process(script, out, cwd, monkeypatch, capsys, extra_args=()):
    """Runs `script` as `__main__` in this process, as `python script --out out` would.

    TensorFlow and kmix are already imported here, which saves each example a
    fresh interpreter's start-up.
    """
    monkeypatch.setenv("KMIX_EXAMPLE_STEPS", "2")
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [str(script), "--out", str(out), *extra_args])
    capsys.readouterr()
    try:
        runpy.run_path(str(script), run_name="__main__")
        returncode = 0
    except SystemExit as exit_:
        returncode = exit_.code or 0
    captured = capsys.readouterr()
    return types.SimpleNamespace(returncode=returncode, stdout=captured.out, stderr=captured.err)


def _run_quick_and_check(script, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = _run_in_process(script, out, cwd, monkeypatch, capsys)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    written = _written_files(result, out)
    assert written, f"{script.name} announced no files:\n{result.stdout[-2000:]}"
    assert list(cwd.iterdir()) == [], "the example wrote into the working directory"
    return result


# tfds_pipeline.py is run by its own test below (quick mode, then by name).
QUICK = [path for path in EXAMPLES if path.name != "tfds_pipeline.py"]


@pytest.mark.slow
@pytest.mark.parametrize("script", QUICK, ids=[path.stem for path in QUICK])
def test_example_runs_in_quick_mode(script, tmp_path, monkeypatch, capsys):
    _run_quick_and_check(script, tmp_path, monkeypatch, capsys)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_datasets") is None,
    reason="tensorflow-datasets is optional (kmix[datasets]); the no-tfds path is tested below",
)
def test_tfds_example_builds_then_reads_a_prepared_dataset_by_name(tmp_path, monkeypatch, capsys):
    # The quick run builds kmix_digits under <out>/tensorflow_datasets; the
    # second run loads it as a user loads a real prepared dataset, by
    # --dataset/--data-dir, without building anything.
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import registered

    script = REPO / "examples" / "tfds_pipeline.py"
    with monkeypatch.context() as patch:
        _run_quick_and_check(script, tmp_path, patch, capsys)
    data_dir = tmp_path / "out" / "tensorflow_datasets"
    assert (data_dir / "kmix_digits").is_dir()
    # As in a user's later run (a fresh interpreter), the builder the first
    # run registered is not registered when the script starts.
    monkeypatch.delitem(registered._DATASET_REGISTRY, "kmix_digits")
    assert "kmix_digits" not in tfds.list_builders()
    (tmp_path / "cwd2").mkdir()
    second = _run_in_process(
        script, tmp_path / "second", tmp_path / "cwd2", monkeypatch, capsys,
        extra_args=("--dataset", "kmix_digits", "--data-dir", str(data_dir)),
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "kmix_digits: 1348 train / 449 test images, 10 classes" in second.stdout
    assert not (tmp_path / "second" / "tensorflow_datasets").exists()
    assert _written_files(second, tmp_path / "second")
    assert list((tmp_path / "cwd2").iterdir()) == []


@pytest.mark.slow
def test_tfds_example_exits_cleanly_without_tensorflow_datasets(tmp_path, monkeypatch, capsys):
    # `import tensorflow_datasets` fails as where it is not installed.
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    (tmp_path / "cwd").mkdir()
    result = _run_in_process(
        REPO / "examples" / "tfds_pipeline.py", tmp_path / "out", tmp_path / "cwd", monkeypatch, capsys
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "needs tensorflow-datasets" in result.stdout
    assert "pip install kmix[datasets]" in result.stdout
    assert WROTE.findall(result.stdout) == []
