"""The Evidently HTML report of a drift check: `DataDriftPreset` plus `ValueDrift` on the prediction.

Evidently runs with the same method per column as kubeloop's check (so the report shows the tests
that decided), on a random sample when the window is large: the banner at the top of the report says
so, and that kubeloop's verdict used every row and the multiple-testing correction.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from kubeloop.drift.check import Reference
from kubeloop.drift.results import DriftResult
from kubeloop.drift.stattests import CHI2_BINNED
from kubeloop.predlog.schema import PREDICTION


@dataclass(frozen=True, kw_only=True)
class HtmlReport:
    """The rendered report and how much of the data Evidently saw."""

    html: str
    current_rows: int
    reference_rows: int
    sampled: bool


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)


def _banner(*, title: str, result: DriftResult, current_rows: int, total_rows: int, sampled: bool) -> str:
    lines = [f"<b>{html.escape(title)}</b>: {html.escape(result.status)} - {html.escape(result.reason)}."]
    if sampled:
        lines.append(
            f"Evidently computed this report on a random sample of {current_rows:,} of the window's "
            f"{total_rows:,} rows; kubeloop's verdict above used all rows."
        )
    lines.append(
        f"Verdicts use the {result.correction} multiple-testing correction; "
        "the per-column p-values below are uncorrected."
    )
    lines += [html.escape(note) for note in result.notes]
    body = "<br>".join(lines)
    return (
        f'<div id="kubeloop-banner" style="font-family:sans-serif;padding:12px;margin:8px;'
        f'border:1px solid #888;background:#f6f6f6">{body}</div>'
    )


def build_html_report(
    *,
    reference: Reference,
    current: pd.DataFrame,
    result: DriftResult,
    title: str,
    max_rows: int,
    seed: int = 0,
) -> HtmlReport | None:
    """The Evidently report for a decided check, or None when there is no reference sample to show."""
    if reference.sample is None or not result.features:
        return None
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    from kubeloop.drift.evidently_tests import register_kubeloop_tests

    register_kubeloop_tests()
    tested = [f for f in result.features if f.method != CHI2_BINNED and f.feature in reference.sample.columns]
    checked = tested + (
        [result.prediction]
        if result.prediction
        and result.prediction.method != CHI2_BINNED
        and PREDICTION in reference.sample.columns
        else []
    )
    if not tested:
        return None
    columns = [f.feature for f in checked]
    definition = DataDefinition(
        numerical_columns=[f.feature for f in checked if f.kind == "numeric"],
        categorical_columns=[f.feature for f in checked if f.kind == "categorical"],
    )
    cur = _sample(current[columns], max_rows, seed)
    ref = _sample(reference.sample[columns], max_rows, seed)
    metrics = [
        DataDriftPreset(
            columns=[f.feature for f in tested], per_column_method={f.feature: f.method for f in tested}
        ),
        *[ValueDrift(column=f.feature, method=f.method) for f in checked[len(tested) :]],
    ]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    sampled = len(cur) < len(current) or len(ref) < len(reference.sample)
    page = snapshot.get_html_str(as_iframe=False)
    banner = _banner(
        title=title, result=result, current_rows=len(cur), total_rows=len(current), sampled=sampled
    )
    page = page.replace("<body>", "<body>" + banner, 1) if "<body>" in page else banner + page
    return HtmlReport(html=page, current_rows=len(cur), reference_rows=len(ref), sampled=sampled)
