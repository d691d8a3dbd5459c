"""Every mixing layer with the arguments the shared tests build it with."""

import kmix
from tests.readme_mixer import readme_mixer

K = 5  # classes used across the layer tests


def _cases():
    L = kmix.layers
    cases = [
        ("MixUp", lambda **kw: L.MixUp(alpha=0.4, **kw)),
        ("MixUp-sample", lambda **kw: L.MixUp(alpha=1.0, lam_scope="sample", **kw)),
        ("CutMix", lambda **kw: L.CutMix(**kw)),
        ("CutMix-sample-flip", lambda **kw: L.CutMix(lam_scope="sample", partner="flip", **kw)),
        ("CutMix-minmax", lambda **kw: L.CutMix(minmax=(0.2, 0.8), lam_scope="sample", **kw)),
        ("CutMix-patch", lambda **kw: L.CutMix(patch_size=4, lam_scope="sample", **kw)),
        (
            "RandomMixChoice",
            lambda **kw: L.RandomMixChoice(
                [L.MixUp(alpha=0.8), L.CutMix(lam_scope="sample")],
                choice_scope="sample",
                no_mix_probability=0.2,
                **kw,
            ),
        ),
    ]
    if hasattr(L, "FMix"):
        cases.append(("FMix", lambda **kw: L.FMix(lam_scope="sample", **kw)))
        cases.append(("FMix-soft", lambda **kw: L.FMix(max_soft=0.1, **kw)))
    if hasattr(L, "ResizeMix"):
        cases.append(("ResizeMix", lambda **kw: L.ResizeMix(lam_scope="sample", **kw)))
        cases.append(
            (
                "RandomMixChoice-resize",
                lambda **kw: L.RandomMixChoice(
                    [L.MixUp(alpha=1.0), L.ResizeMix()], choice_scope="sample", **kw
                ),
            )
        )
    if hasattr(L, "MaskMix"):
        cases.append(("MaskMix", lambda **kw: L.MaskMix(mask_patch_size=8, patch_size=4, **kw)))
    if hasattr(L, "FMix") and hasattr(L, "ResizeMix") and hasattr(L, "MaskMix"):
        cases.append(
            (
                "RandomMixChoice-all",
                lambda **kw: L.RandomMixChoice(
                    [L.CutMix(), L.FMix(), L.ResizeMix(), L.MaskMix(mask_patch_size=8, patch_size=4)],
                    weights=[1, 1, 2, 1],
                    choice_scope="sample",
                    **kw,
                ),
            )
        )
    if hasattr(L, "TokenMix"):
        cases.append(("TokenMix", lambda **kw: L.TokenMix(patch_size=4, minimum_tokens=1, **kw)))
        cases.append(
            (
                "TokenMix-random-sample",
                lambda **kw: L.TokenMix(
                    patch_size=4, mask_type="random", minimum_tokens=0, lam_scope="sample", **kw
                ),
            )
        )
    if hasattr(L, "GridMix"):
        cases.append(("GridMix", lambda **kw: L.GridMix(n_holes=(1, 3), **kw)))
        cases.append(("SmoothMix-sample", lambda **kw: L.SmoothMix(lam_scope="sample", **kw)))
    if hasattr(L, "AttentiveMix"):
        import keras

        cases.append((
            "AttentiveMix",
            lambda **kw: L.AttentiveMix(
                teacher=keras.Sequential([keras.layers.AveragePooling2D(4)]), top_k=3, **kw),
        ))
    if hasattr(L, "MixKDMix"):
        cases.append(("MixKDMix", lambda **kw: L.MixKDMix(partial=0.5, **kw)))
    cases.append(("SaliencyMix", lambda **kw: L.SaliencyMix(**kw)))
    cases.append(("GuidedMixup", lambda **kw: L.GuidedMixup(blur_sigma=(0.5, 3.0), lam_scope="sample", **kw)))
    # The mixer a user writes from the README: one subclass, one method.
    cases.append(("README-VerticalSplitMix", lambda **kw: readme_mixer(**kw)))
    return cases


CASES = _cases()
IDS = [name for name, _ in CASES]
FACTORIES = [factory for _, factory in CASES]
