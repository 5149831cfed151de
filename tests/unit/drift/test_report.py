"""The Evidently HTML report: same methods as the check, a banner, and sampling said out loud."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kubeloop.drift.check import Reference, check_drift
from kubeloop.drift.report import build_html_report
from kubeloop.spec import DriftSpec


def test_large_windows_are_sampled_and_the_report_says_so() -> None:
    rng = np.random.default_rng(0)
    sample = pd.DataFrame(
        {
            "a": rng.normal(size=500),
            "c": rng.choice(["x", "y", "z"], 500),
            "prediction": rng.choice([0, 1], 500),
        }
    )
    current = pd.DataFrame(
        {
            "a": rng.normal(0.5, 1, 3000),
            "c": rng.choice(["x", "y", "z"], 3000),
            "prediction": rng.choice([0, 1], 3000),
        }
    )
    reference = Reference.from_sample(sample)
    result = check_drift(reference=reference, current=current, spec=DriftSpec())

    report = build_html_report(
        reference=reference, current=current, result=result, title="iris v1", max_rows=1000
    )

    assert report is not None and report.sampled
    assert (report.current_rows, report.reference_rows) == (1000, 500)
    assert "random sample of 1,000 of the window's 3,000 rows" in report.html
    assert "two-sample chi-square p_value" in report.html  # Evidently ran kubeloop's test on `c`


def test_no_sample_means_no_html_report() -> None:
    rng = np.random.default_rng(1)
    reference = Reference(profile=Reference.from_sample(pd.DataFrame({"a": rng.normal(size=500)})).profile)
    current = pd.DataFrame({"a": rng.normal(size=600)})
    result = check_drift(reference=reference, current=current, spec=DriftSpec())

    assert (
        build_html_report(reference=reference, current=current, result=result, title="t", max_rows=1000)
        is None
    )
