"""The golden vectors of the MCU link (tests/data/mcu_frames.json), read without pathlib."""

import json


def load_vectors():
    here = __file__.replace("\\", "/").rsplit("/", 1)[0]
    with open(here + "/../data/mcu_frames.json") as f:
        return json.load(f)


def unhex(text):
    return bytes.fromhex(text)
