"""Point records: exact float round trip, checksummed files, foreign/damaged detection."""

from __future__ import annotations

import json
import math
import struct

import pytest

from mcstudy.storage.checked import (
    create_checked,
    decode_checked,
    encode_checked,
    read_checked,
    write_checked,
)
from mcstudy.storage.errors import CheckedFileError
from mcstudy.storage.points import (
    check_point,
    decode_mapping,
    encode_mapping,
    index_of,
    point_filename,
)

KIND, VERSION = "mcstudy-point", 1


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_values_round_trip_bit_for_bit_through_json():
    values = {
        "tiny": 5e-324,
        "third": 1.0 / 3.0,
        "neg_zero": -0.0,
        "big": 1.7976931348623157e308,
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "count": 2**62 + 1,
        "prob": 0.1 + 0.2,
    }
    back = decode_mapping(json.loads(json.dumps(encode_mapping(values), allow_nan=False)))
    for key, value in values.items():
        if isinstance(value, int):
            assert back[key] == value and isinstance(back[key], int)
        elif math.isnan(value):
            assert math.isnan(back[key])
        else:
            assert bits(back[key]) == bits(value), key


def test_unstorable_value_is_refused():
    with pytest.raises(TypeError):
        encode_mapping({"x": [1, 2]})


def test_point_file_names():
    assert point_filename(42) == "point-0000042.json"
    assert index_of("point-0000042.json") == 42
    assert index_of(".point-0000042.json.abc.partial") is None
    assert index_of("manifest.json") is None


def test_checked_file_round_trip_and_exclusive_create(tmp_path):
    path = tmp_path / "a.json"
    write_checked(path, KIND, VERSION, {"x": 1.5})
    assert read_checked(path, KIND, VERSION) == {"x": 1.5}
    assert not create_checked(path, KIND, VERSION, {"x": 2})
    assert read_checked(path, KIND, VERSION) == {"x": 1.5}
    assert create_checked(tmp_path / "b.json", KIND, VERSION, {"x": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:-7], "truncated"),
        (lambda d: d.replace(b'"x": 1.5', b'"x": 1.6'), "checksum mismatch"),
        (lambda d: d + b"extra", "appended"),
        (lambda d: b"hello world\n" + d, "unparsable header"),
        (lambda d: d.replace(b"mcstudy-point", b"mcstudy-other"), "not an mcstudy-point file"),
        (lambda d: d.replace(b'"format_version": 1', b'"format_version": 9'), "version 9"),
        (lambda d: b"", "no header line"),
    ],
)
def test_damaged_or_foreign_files_are_detected(damage, message):
    data = encode_checked(KIND, VERSION, {"x": 1.5, "y": "text"})
    assert decode_checked(data, KIND, VERSION, "f") == {"x": 1.5, "y": "text"}
    with pytest.raises(CheckedFileError, match=message):
        decode_checked(damage(data), KIND, VERSION, "f")


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(CheckedFileError, match="file not found"):
        read_checked(tmp_path / "nope.json", KIND, VERSION)


def _body(**changes):
    body = {
        "point": 3,
        "config_hash": "c" * 64,
        "code_version": {"mcstudy": "0.1.0", "model": "gather", "sources_sha256": "s" * 64},
        "coords": {"p": 0.5},
        "status": "done",
        "values": {},
        "tallies": {},
        "study": "x",
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"point": 4}, "holds point 4"),
        ({"config_hash": "d" * 64}, "foreign: computed for config"),
        (
            {"code_version": {"mcstudy": "0.1.0", "model": "gather", "sources_sha256": "t" * 64}},
            "foreign: computed by other code",
        ),
        (
            {"code_version": {"mcstudy": "0.2.0", "model": "gather", "sources_sha256": "s" * 64}},
            "other code",
        ),
        ({"coords": {"p": 0.25}}, "coordinates"),
        ({"status": "maybe"}, "unknown status"),
        ({"values": None}, "without values"),
        ({"status": "failed"}, "without its error"),
    ],
)
def test_check_point_names_why_a_record_does_not_belong(changes, reason):
    code = {"mcstudy": "0.1.0", "model": "gather", "sources_sha256": "s" * 64}
    got = check_point(
        _body(**changes), index=3, config_hash="c" * 64, code_version=code, coords={"p": 0.5}
    )
    if reason is None:
        assert got is None
    else:
        assert reason in got
