"""Writes the before / reference / after example of reference-guided colour.

The pictures are synthetic (made here), so the docs carry no third-party images:
``python bench/make_reference_example.py`` rewrites docs/img/reference-*.jpg and
prints the Lab statistics that docs/enhancement.md quotes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from synthetic import scene

from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_core.images.model import Adjust, EnhanceOptions, OutputFormat
from cropedly_core.images.reference import colour_stats
from cropedly_core.images.service import run_job

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    before = scene((90, 140, 200), (200, 215, 225), (60, 110, 60), (250, 250, 230), seed=1)
    reference = scene((60, 30, 90), (250, 150, 70), (90, 50, 40), (255, 220, 120), seed=2)
    pipeline = default_pipeline()
    ref_bytes, before_bytes = io.BytesIO(), io.BytesIO()
    reference.save(ref_bytes, "PNG")
    before.save(before_bytes, "PNG")
    stats = run_job(pipeline, ref_bytes.getvalue(), EnhanceOptions(adjust=Adjust.NONE)).colour
    options = EnhanceOptions(adjust=Adjust.NONE, format=OutputFormat.JPEG, reference=stats)
    after = run_job(pipeline, before_bytes.getvalue(), options)
    before.save(OUT / "reference-before.jpg", quality=85)
    reference.save(OUT / "reference-style.jpg", quality=85)
    (OUT / "reference-after.jpg").write_bytes(after.image.data)
    for name, pixels in (
        ("before", np.asarray(before)),
        ("reference", np.asarray(reference)),
        ("after", np.asarray(Image.open(io.BytesIO(after.image.data)).convert("RGB"))),
    ):
        s = colour_stats(pixels)
        print(
            f"| {name} | "
            + " | ".join(f"{m:.1f} ± {d:.1f}" for m, d in zip(s.mean, s.std, strict=True))
            + " |"
        )


if __name__ == "__main__":
    main()
