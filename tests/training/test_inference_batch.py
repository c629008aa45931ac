"""Multi-record requests, as SageMaker Batch Transform sends them (``SplitType=Line``, ``BatchStrategy=MultiRecord``).

One output line per input record, in order, so that ``JoinSource=Input`` can join each prediction to its record;
a record that cannot be scored answers ``{"error": ...}`` (or an error column in CSV) on its own line and the
others are scored as usual. The single-request answers of the same bodies stay what they always were.
"""

from __future__ import annotations

import csv
import io
import json

import inference
import pytest
import serving_contract

from tests.training.sm_helpers import invoke

JSONL = "application/jsonlines"


def lines_of(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True).split("\n")


def single(model, texts: list[str]) -> list[dict]:
    response = invoke(inference, model, json.dumps(texts).encode(), "application/json", "application/json")
    return json.loads(response.get_data(as_text=True))["predictions"]


def test_json_lines_records_get_one_line_each_in_order(small_model):
    texts = ["a wonderful, moving film", "dull and far too long", "superb acting", "the worst film ever made"]
    body = "\n".join(json.dumps({"review_id": f"r{i}", "text": t}) for i, t in enumerate(texts)) + "\n"
    response = invoke(inference, small_model, body.encode(), JSONL, JSONL)
    assert response.mimetype == JSONL
    got = [json.loads(line) for line in lines_of(response)]
    assert got == single(small_model, texts)  # the same predictions as one JSON request, record by record


def test_bare_json_strings_are_records_too(small_model):
    # InputFilter "$.text" turns each record into the JSON string of its text.
    body = '"a wonderful film"\n"an awful film"'
    got = [json.loads(line) for line in lines_of(invoke(inference, small_model, body.encode(), JSONL, JSONL))]
    assert got == single(small_model, ["a wonderful film", "an awful film"])


def test_a_bad_record_gets_its_own_error_line(small_model, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_TEXT_CHARS", 30)
    records = ['"great film"', "{not json", '{"id": 3}', '"  <br />  "', '"' + "x" * 31 + '"', "42", '"awful film"']
    got = [json.loads(line) for line in lines_of(invoke(inference, small_model, "\n".join(records).encode(), JSONL, JSONL))]
    assert len(got) == len(records)
    assert [set(g) for g in got[1:6]] == [{"error"}] * 5
    assert "record 1 is not valid JSON" in got[1]["error"]
    assert '"text" field' in got[2]["error"]
    assert "instance 3 is empty" in got[3]["error"]
    assert "instance 4 is too long: 31 > 30" in got[4]["error"]
    assert "instance 5 must be a string, got int" in got[5]["error"]
    assert [got[0], got[6]] == single(small_model, ["great film", "awful film"])


def test_csv_body_answers_csv_rows_with_an_error_column(small_model):
    body = 'great film\n"awful, dull film"\ntwo,fields\n\nsuperb\n'
    response = invoke(inference, small_model, body.encode(), "text/csv", "text/csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 5 and all(len(row) == 4 for row in rows)
    expected = single(small_model, ["great film", "awful, dull film", "superb"])
    for row, prediction in zip([rows[0], rows[1], rows[4]], expected, strict=True):
        assert row[0] == prediction["label"] and float(row[2]) == pytest.approx(prediction["positive_probability"])
        assert row[3] == ""
    assert rows[2][:3] == ["", "", ""] and "CSV row 3 has 2 fields" in rows[2][3]
    assert "instance 3 is empty" in rows[3][3]


def test_csv_body_can_answer_json_lines(small_model):
    response = invoke(inference, small_model, b"great film\nawful film\n", "text/csv", JSONL)
    got = [json.loads(line) for line in lines_of(response)]
    assert got == single(small_model, ["great film", "awful film"])


def test_many_records_beyond_the_single_request_limit(small_model, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_INSTANCES", 3)
    body = "\n".join(json.dumps({"text": f"review {i} was great"}) for i in range(50)).encode()
    assert len(lines_of(invoke(inference, small_model, body, JSONL, JSONL))) == 50
    # the same body as a single request is refused as it always was
    response = invoke(inference, small_model, body, JSONL, "application/json")
    assert response.status_code == 413 and "too many texts: 50 > 3" in response.get_data(as_text=True)


def test_single_request_with_a_bad_record_is_refused_whole(small_model):
    response = invoke(inference, small_model, b'"great film"\n"  "\n', JSONL, "application/json")
    assert response.status_code == 400 and "instance 1 is empty" in json.loads(response.get_data(as_text=True))["error"]


def test_record_limit_and_whole_body_failures(small_model, monkeypatch):
    monkeypatch.setattr(serving_contract, "MAX_BATCH_RECORDS", 2)
    response = invoke(inference, small_model, b'"a"\n"b"\n"c"', JSONL, JSONL)
    assert response.status_code == 413 and "too many records: 3 > 2" in response.get_data(as_text=True)
    response = invoke(inference, small_model, b'"unterminated\n', "text/csv", "text/csv")
    assert response.status_code == 400 and "malformed CSV" in response.get_data(as_text=True)
    response = invoke(inference, small_model, b"", JSONL, JSONL)
    assert response.status_code == 400 and "no review texts" in response.get_data(as_text=True)


def test_error_messages_never_break_a_line(small_model):
    # a CSV record whose row number message is fine, and a record that is a JSON object with a newline in a key
    body = b'{"te\\nxt": 1}\n"fine film"'
    got = lines_of(invoke(inference, small_model, body, JSONL, JSONL))
    assert len(got) == 2 and "error" in json.loads(got[0])


def test_accept_that_allows_json_still_gets_one_json_document(small_model):
    response = invoke(inference, small_model, b'"great"\n"awful"', JSONL, "application/jsonlines, */*;q=0.1")
    assert response.mimetype == "application/json"
    assert len(json.loads(response.get_data(as_text=True))["predictions"]) == 2
