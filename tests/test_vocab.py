"""Tests for img2tex.vocab: stable ids, round trips, and one-line errors on bad files."""

import json

import pytest

from img2tex.errors import DatasetError
from img2tex.vocab import BOS, EOS, PAD, UNK, Vocab, build_vocab, coverage


def _vocab() -> Vocab:
    return build_vocab([["x", "^", "{", "2", "}"], ["y", "^", "{", "2", "}"], ["x"]])


def test_specials_first_then_count_desc_then_token():
    v = _vocab()
    assert v.tokens[:4] == [PAD, BOS, EOS, UNK]
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    # counts: 2,^,{,},x = 2 ; y = 1 ; ties broken by token text
    assert v.tokens[4:] == sorted(["2", "^", "{", "}", "x"]) + ["y"]
    assert v.counts["x"] == 2 and v.counts["y"] == 1


def test_ids_do_not_depend_on_input_order():
    a = build_vocab([["b", "a"], ["c"]])
    b = build_vocab([["c"], ["a", "b"]])
    assert a.tokens == b.tokens


def test_min_count_drops_rare_tokens_and_specials_are_not_counted():
    v = build_vocab([["a", "a", "b", UNK, PAD]], min_count=2)
    assert v.tokens == [PAD, BOS, EOS, UNK, "a"]
    with pytest.raises(ValueError):
        build_vocab([["a"]], min_count=0)


def test_encode_decode():
    v = _vocab()
    ids = v.encode(["x", "^", "zz"])
    assert ids[-1] == v.unk_id and len(ids) == 3
    assert v.decode([v.bos_id] + ids[:2] + [v.pad_id, v.eos_id] + ids) == ["x", "^"]
    assert v.decode([10_000, -1] + v.encode(["y"])) == ["y"]


def test_dict_and_file_round_trip(tmp_path):
    v = _vocab()
    assert Vocab.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    path = tmp_path / "sub" / "vocab.json"
    v.save(path)
    w = Vocab.load(path)
    assert w.tokens == v.tokens and w.counts == v.counts
    assert not list(path.parent.glob(".*.tmp"))


def test_load_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        Vocab.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="corrupt") as exc:
        Vocab.load(bad)
    assert "\n" not in str(exc.value)
    bad.write_text(json.dumps({"tokens": ["a", "b"]}))
    with pytest.raises(DatasetError, match="specials"):
        Vocab.load(bad)
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(DatasetError, match="not a vocabulary"):
        Vocab.load(bad)


def test_coverage():
    v = build_vocab([["a", "b"]])
    c = coverage(v, [["a", "b"], ["a", "c", "c", "d"]])
    assert c["formulas"] == 2 and c["tokens"] == 6
    assert c["unknown_tokens"] == 3
    assert c["unknown_rate"] == pytest.approx(0.5)
    assert c["formula_coverage"] == pytest.approx(0.5)
    assert c["top_unknown"][0] == ("c", 2)
