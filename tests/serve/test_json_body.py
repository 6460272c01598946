"""Request and document-file JSON decodes to what the standard library gives, with or without orjson."""

from __future__ import annotations

import json

import numpy as np
import pytest

from appkit.serve import json_body



@pytest.fixture(params=["orjson", "stdlib"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "orjson" and json_body.orjson is None:
        pytest.skip("orjson is not installed (it comes with the serve extra)")
    if request.param == "stdlib":
        monkeypatch.setattr(json_body, "orjson", None)
    return request.param


def test_floats_decode_bit_for_bit_as_the_standard_library(decoder: str) -> None:
    rng = np.random.default_rng(5)
    texts = [repr(float(x)) for x in rng.standard_normal(20_000).astype(np.float32)]  # float32 sent as doubles
    texts += [f"{x:.{d}e}" for x, d in zip(rng.standard_normal(20_000) * 10.0 ** rng.integers(-300, 300, 20_000),
                                           rng.integers(0, 22, 20_000))]
    texts += ["0", "-0.0", "1E5", "2.2250738585072011e-308", "4.9e-324", "1.7976931348623157e308"]
    body = ("[" + ",".join(texts) + "]").encode()
    ours = np.array(json_body.loads(body), dtype=np.float64)
    reference = np.array(json.loads(body), dtype=np.float64)
    assert ours.view(np.int64).tolist() == reference.view(np.int64).tolist()


@pytest.mark.parametrize("text", ['{"a": NaN, "b": -Infinity}', "[1e400]", '["\\ud800"]', '\ufeff{"a": 1}',
                                  '{"a": 1, "a": 2}', '{"id": "é"}'])
def test_what_the_standard_library_accepts_is_accepted_alike(decoder: str, text: str) -> None:
    ours, reference = json_body.loads(text.encode()), json.loads(text.encode())
    assert json.dumps(ours) == json.dumps(reference)


@pytest.mark.parametrize("text", ['{"documents": [1, 2,]}', '{"a": 1} x', "[1.0e]", "", "{"])
def test_errors_are_the_standard_librarys(decoder: str, text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        json_body.loads(text.encode())
    with pytest.raises(json.JSONDecodeError) as reference:
        json.loads(text.encode())
    assert (ours.value.msg, ours.value.pos) == (reference.value.msg, reference.value.pos)


def test_an_integer_beyond_64_bits_is_the_nearest_double(decoder: str) -> None:
    # what every number field and tensor cell makes of it anyway
    assert float(json_body.loads(b"[123456789012345678901234567890]")[0]) == 1.2345678901234568e29

