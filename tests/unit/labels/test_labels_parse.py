"""Bad label batches are refused whole with the position and field named; good ones come out canonical."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kubeloop.labels import Label, LabelError, LabelSchema, LocalLabelStore, receive
from kubeloop.labels.events import LABEL_EVENT_TYPE, label_events
from kubeloop.labels.parse import MAX_BATCH, frame_records, parse_batch, parse_items, read_label_file
from kubeloop.labels.schema import combine, read_schema, record_version_schema, schema_for_model

SPECIES = LabelSchema(kind="class", classes=("setosa", "versicolor", "virginica"))


def refusal(data: object, schema: LabelSchema = SPECIES) -> LabelError:
    with pytest.raises(LabelError) as refused:
        parse_batch(data, schema=schema, deployment="iris")
    return refused.value


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"request_id": "a"}, 400, "expected a JSON list"),
    ([], 400, "the batch is empty"),
    (["a"], 400, "[0]: expected an object"),
    ([{"request_id": "a", "label": "setosa", "weight": 2}], 400, "[0]: unknown fields ['weight']"),
    ([{"request_id": "", "label": "setosa"}], 400, "[0].request_id: expected the x-request-id"),
    ([{"request_id": "a", "row": -1, "label": "setosa"}], 400, "[0].row: expected the row's index"),
    ([{"request_id": "a", "row": True, "label": "setosa"}], 400, "[0].row"),
    ([{"request_id": "a"}], 400, "[0].label: required"),
    ([{"request_id": "a", "label": "setosa", "sampling_probability": 0}], 400, "[0].sampling_probability"),
    ([{"request_id": "a", "label": "setosa", "sampling_probability": 1.5}], 400, "in (0, 1]"),
    ([{"request_id": "a", "label": "setoza"}], 422,
     "[0].label: 'setoza' is not a class of deployment 'iris' (setosa, versicolor, virginica)"),
    ([{"request_id": "a", "label": [1]}], 422, "[0].label: expected a class name or a finite number"),
])
def test_malformed_and_wrongly_typed_batches_are_refused_naming_the_problem(
    data: object, status: int, message: str
) -> None:
    error = refusal(data)
    assert error.status == status and message in str(error)


def test_a_batch_with_some_bad_labels_is_refused_whole_naming_the_first_ones() -> None:
    items = [{"request_id": f"r{i}", "label": "setosa" if i % 2 else "tulip"} for i in range(10)]
    error = refusal(items)
    assert error.refused == 10 and error.status == 422
    assert str(error).startswith("5 of 10 labels refused: [0].label: 'tulip'")
    assert "(and 2 more)" in str(error)


def test_too_large_a_batch_is_a_413() -> None:
    error = refusal([{"request_id": "a", "label": "setosa"}] * (MAX_BATCH + 1))
    assert error.status == 413 and error.refused == MAX_BATCH + 1


def test_regressors_take_numbers_only_and_classes_keep_the_models_type() -> None:
    number = LabelSchema(kind="number")
    assert "serves a regressor" in str(refusal([{"request_id": "a", "label": "3.5"}], number))
    infinite = refusal([{"request_id": "a", "label": float("inf")}], number)
    assert "expected a class name or a finite number" in str(infinite)
    assert "[0].label: required" in str(refusal([{"request_id": "a", "label": float("nan")}], number))
    (label,) = parse_batch([{"request_id": "a", "label": 3}], schema=number, deployment="house")
    assert label == Label(request_id="a", row=0, label=3)
    integers = LabelSchema(kind="class", classes=(0, 1))
    (one,) = parse_batch([{"request_id": "a", "row": 2.0, "label": "1"}], schema=integers, deployment="x")
    assert one.label == 1 and isinstance(one.label, int) and one.row == 2


def test_schemas_combine_over_versions_and_are_recorded_beside_the_logs(tmp_path: Path) -> None:
    assert read_schema(tmp_path, "iris") == LabelSchema()
    record_version_schema(tmp_path, deployment="iris", version="1",
                          schema=schema_for_model(classes=["setosa", "versicolor"], regressor=False))
    record_version_schema(tmp_path, deployment="iris", version="2",
                          schema=schema_for_model(classes=["setosa", "virginica"], regressor=False))
    assert set(read_schema(tmp_path, "iris").classes) == {"setosa", "versicolor", "virginica"}
    assert combine([LabelSchema(kind="number"), LabelSchema(kind="number")]).kind == "number"
    assert combine([LabelSchema(kind="number"), SPECIES]).kind == "any"
    assert schema_for_model(classes=None, regressor=True).kind == "number"


def test_a_refused_batch_is_counted_in_the_store(tmp_path: Path) -> None:
    store = LocalLabelStore(tmp_path)
    record_version_schema(tmp_path, deployment="iris", version="1", schema=SPECIES)
    with pytest.raises(LabelError):
        receive(store, "iris", [{"request_id": "a", "label": "tulip"},
                                {"request_id": "b", "label": "setosa"}])
    assert receive(store, "iris", [{"request_id": "b", "label": "setosa"}]).new == 1
    assert store.counts("iris")["refused"] == 2 and store.counts("iris")["stored"] == 1


def test_label_files_read_as_a_labeling_tool_writes_them(tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("request_id,row,label,note\n0012,0,setosa,checked\n0013,,virginica,\n")
    frame = read_label_file(csv)
    labels = parse_items(frame_records(frame), schema=SPECIES, deployment="iris")
    found = [(x.request_id, x.row, x.label) for x in labels]
    assert found == [("0012", 0, "setosa"), ("0013", 0, "virginica")]
    parquet = tmp_path / "labels.parquet"
    pd.DataFrame({"request_id": ["a"], "label": [2.5], "sampling_probability": [0.2]}).to_parquet(parquet)
    (label,) = parse_items(frame_records(read_label_file(parquet)), schema=LabelSchema(kind="number"),
                           deployment="house")
    assert label.sampling_probability == 0.2 and label.label == 2.5
    (tmp_path / "bad.csv").write_text("id,label\na,setosa\n")
    with pytest.raises(LabelError, match=r"missing columns \['request_id'\]"):
        read_label_file(tmp_path / "bad.csv")
    with pytest.raises(LabelError, match="no such file"):
        read_label_file(tmp_path / "absent.csv")
    with pytest.raises(LabelError, match="expected a .csv, .tsv or .parquet"):
        read_label_file(tmp_path / "labels.xlsx")


def event(data: object, **fields: str) -> dict[str, object]:
    return {"specversion": "1.0", "id": "1", "source": "labeler", "type": LABEL_EVENT_TYPE, "subject": "iris",
            "data": data, **fields}


def test_label_cloudevents_in_batch_structured_and_binary_mode() -> None:
    items = [{"request_id": "a", "label": "setosa"}]
    batch = json.dumps([event(items), event(items[0])]).encode()
    assert label_events({"content-type": "application/cloudevents-batch+json"}, batch) == [
        ("iris", items), ("iris", items)]
    structured = json.dumps(event(items)).encode()
    assert label_events({"Content-Type": "application/cloudevents+json"}, structured) == [("iris", items)]
    binary = {"ce-specversion": "1.0", "ce-id": "2", "ce-source": "labeler", "ce-type": LABEL_EVENT_TYPE,
              "ce-subject": "iris", "content-type": "application/json"}
    assert label_events(binary, json.dumps(items).encode()) == [("iris", items)]
    prediction = json.dumps({**event(items), "type": "io.kubeloop.prediction"}).encode()
    assert label_events({"content-type": "application/cloudevents+json"}, prediction) is None
    assert label_events({"content-type": "application/json"}, b"{}") is None


@pytest.mark.parametrize(("headers", "body", "message"), [
    ({"content-type": "application/cloudevents+json"}, b"{", "not valid JSON"),
    ({"content-type": "application/cloudevents-batch+json"},
     json.dumps([event([]), {**event([]), "type": "other"}]).encode(), "must hold only those"),
    ({"content-type": "application/cloudevents+json"}, json.dumps(event([], subject="")).encode(),
     "names its deployment in `subject`"),
    ({"content-type": "application/cloudevents+json"},
     json.dumps({"type": LABEL_EVENT_TYPE, "data": []}).encode(), "not a valid CloudEvent"),
])
def test_bad_label_events_name_the_problem(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        label_events(headers, body)
