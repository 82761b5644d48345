"""The 422 message for keys without feature rows names each key cut, not echoed whole."""

from lakehouse_ml.serving.app import unknown_keys
from lakehouse_ml.serving.request import Request
from lakehouse_ml.serving.scorer import Scored


def test_a_megabyte_key_is_named_cut_in_the_unknown_keys_message() -> None:
    key = "k" * 1_000_000
    rows = Request(columns={"sensor_id": [key, "s1"]}, rows=2, lookup=True)
    scored = Scored([0.5, 0.5], [1, 1], None, [["iot.device_health"], []])
    message = unknown_keys(rows, scored)
    assert len(message) < 300, len(message)
    assert message.startswith("unknown keys: sensor_id='kkk")
    assert "(1000002 characters) (row 0): no row in iot.device_health" in message
