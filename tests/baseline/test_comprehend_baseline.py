"""The baseline's input (sample, 5,120-byte limit, manifest) and its output archive (parse, map, compare)."""

from __future__ import annotations

import gzip
import json

import comprehend_baseline as cb
import pytest

from tests.baseline.archives import archive, scored, size_exceeded


def records(n: int, text: str = "a fine film with a good cast") -> list[dict]:
    return [{"review_id": f"r{i}", "text": f"{text} {i}", "label": i % 2, "rating": None, "split": "validation"}
            for i in range(n)]


def test_a_long_review_is_cut_within_the_byte_limit_at_a_word_boundary_without_splitting_a_character():
    text = ("é" * 3 + " word") * 1000  # 2-byte characters, so a blind byte cut would split one
    short, cut = cb.shorten_to_limit(text)
    assert cut
    assert len(short.encode("utf-8")) <= cb.MAX_DOCUMENT_BYTES
    assert text.startswith(short) and text[len(short)] == " "  # ends on a whole word
    assert cb.shorten_to_limit("short review") == ("short review", False)


def test_line_breaks_inside_a_review_become_spaces_so_it_stays_one_document():
    assert cb.shorten_to_limit("line one\nline two\r\nthree") == ("line one line two three", False)


def test_billing_units_are_100_characters_with_a_minimum_of_3():
    assert cb.billing_units("x" * 10) == 3
    assert cb.billing_units("x" * 301) == 4
    assert cb.billing_units("x" * 5000) == 50


def test_the_sample_is_deterministic_whatever_the_order_of_the_split_and_counts_what_it_shortened():
    reviews = records(50) + [{"review_id": "long", "text": "word " * 2000, "label": 1}]
    first = cb.prepare_input(reviews, 20)
    again = cb.prepare_input(list(reversed(reviews)), 20)
    assert first.documents == again.documents and first.manifest == again.manifest
    assert len(first.documents) == 20 and first.available == 51
    everything = cb.prepare_input(reviews, 1000)
    stats = everything.stats()
    assert stats["documents"] == 51 and stats["shortened"] == 1
    assert stats["billing_units"] == sum(cb.billing_units(d) for d in everything.documents)
    assert [entry["line"] for entry in everything.manifest] == list(range(51))
    assert everything.text.count("\n") == 51
    assert all(len(line.encode()) <= cb.MAX_DOCUMENT_BYTES for line in everything.text.splitlines())


def test_an_empty_split_is_refused_with_a_clear_message():
    with pytest.raises(cb.BaselineError, match="no labeled review"):
        cb.prepare_input([{"review_id": "a", "text": " ", "label": 1}], 10)


def test_read_json_lines_reads_the_cleaning_jobs_gzip_parts_and_names_a_bad_line():
    data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records(3)))
    assert [r["review_id"] for r in cb.read_json_lines(data, "part-0.json.gz")] == ["r0", "r1", "r2"]
    with pytest.raises(cb.BaselineError, match="part-1.json line 2"):
        cb.read_json_lines(b'{"review_id": "a", "text": "t", "label": 1}\n{oops\n', "part-1.json")


def test_the_archive_parser_reads_results_and_per_document_errors():
    data = archive([scored(0, "POSITIVE"), size_exceeded(1), scored(2, "MIXED", positive=0.2, negative=0.5)])
    parsed = cb.parse_output_archive(data)
    assert parsed.results[("documents.txt", 0)]["sentiment"] == "POSITIVE"
    assert parsed.errors[("documents.txt", 1)]["code"] == "DOCUMENT_SIZE_EXCEEDED"
    assert parsed.results[("documents.txt", 2)]["scores"]["Negative"] == 0.5


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"not a tarball", "not a Comprehend output archive"),
        (archive([{"File": "documents.txt", "Line": 0, "Sentiment": "ANGRY"}]), "unknown Sentiment 'ANGRY'"),
        (archive([{"File": "documents.txt", "Sentiment": "POSITIVE"}]), "output line 1: expected an object"),
    ],
)
def test_a_broken_archive_is_refused_naming_the_problem(bad, message):
    with pytest.raises(cb.BaselineError, match=message):
        cb.parse_output_archive(bad)


def test_the_four_classes_map_to_binary_labels_and_undecided_ones_take_the_larger_score():
    assert cb.label_of({"sentiment": "POSITIVE", "scores": {}}) == 1
    assert cb.label_of({"sentiment": "NEGATIVE", "scores": {}}) == 0
    assert cb.label_of({"sentiment": "NEUTRAL", "scores": {"Positive": 0.3, "Negative": 0.1}}) == 1
    assert cb.label_of({"sentiment": "MIXED", "scores": {"Positive": 0.2, "Negative": 0.4}}) == 0
    assert cb.label_of({"sentiment": "MIXED", "scores": {"Positive": 0.3, "Negative": 0.3}}) == 0  # tie: negative


def test_comparison_with_the_labels_counts_errors_and_the_neutral_or_mixed_share_apart():
    manifest = [{"line": i, "review_id": f"r{i}", "label": label, "units": 3, "shortened": False}
                for i, label in enumerate([1, 0, 1, 0, 1])]
    parsed = cb.parse_output_archive(archive([
        scored(0, "POSITIVE"),  # right
        scored(1, "POSITIVE"),  # wrong: a false positive
        scored(2, "NEUTRAL", positive=0.6, negative=0.1),  # undecided, mapped to 1: right
        size_exceeded(3),
        # line 4 missing from the output altogether
    ]))
    compared = cb.compare_with_labels(manifest, parsed, "documents.txt")
    assert compared["scored"] == 3
    assert compared["errors"] == {"DOCUMENT_SIZE_EXCEEDED": 1, "MISSING_FROM_OUTPUT": 1}
    assert compared["neutral_or_mixed_share"] == pytest.approx(1 / 3)
    assert compared["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert compared["metrics"]["confusion_matrix"] == {
        "true_negative": 0, "false_positive": 1, "false_negative": 0, "true_positive": 2}
    assert compared["metrics_positive_negative_only"]["reviews"] == 2
    assert compared["sentiments"] == {"POSITIVE": 2, "NEGATIVE": 0, "NEUTRAL": 1, "MIXED": 0}


def test_binary_metrics_f1_matches_its_definition():
    m = cb.binary_metrics([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    precision, recall = 2 / 3, 2 / 3
    assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert m["accuracy"] == pytest.approx(3 / 5)
