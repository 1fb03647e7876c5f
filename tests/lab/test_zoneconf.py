"""The zone instruments' settings in the guest's /lab.conf (mcstudy.lab.guestrun)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mcstudy.lab.arch import get_arch
from mcstudy.lab.errors import LabError
from mcstudy.lab.guestrun import LabRequest, guest_conf
from tests.lab.conftest import recorded


def test_zone_instrument_settings(tmp_path):
    _, _, prep = recorded("arm64", tmp_path)
    spec = get_arch("arm64")
    conf = guest_conf(LabRequest(), spec, prep)
    assert (conf["WATCH_US"], conf["WATCH_BIN_MS"]) == (2000, 100)
    assert (conf["INDEP_GATHERS"], conf["INDEP_BLOCKS"], conf["INDEP_GAP_US"]) == (2000, 8, 15000)
    assert conf["STALL_BUFFER_KB"] == 4096
    # a short run runs as many independent gathers as gathers; a long one at most 2000
    assert guest_conf(LabRequest(gathers=200, blocks=4), spec, prep)["INDEP_GATHERS"] == 200
    assert guest_conf(LabRequest(gathers=6000), spec, prep)["INDEP_GATHERS"] == 2000
    few = guest_conf(LabRequest(gathers=5, blocks=5), spec, prep)
    assert (few["INDEP_GATHERS"], few["INDEP_BLOCKS"]) == (5, 5)
    off = guest_conf(replace(LabRequest(), indep_gathers=0, watch_us=0), spec, prep)
    assert (off["INDEP_GATHERS"], off["WATCH_US"]) == (0, 0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"watch_us": 10}, "zone watch period"),
        ({"watch_bin_ms": 0}, "zone watch period"),
        ({"indep_gathers": 70000}, "independent gathers"),
        ({"indep_gap_us": 0}, "independent gathers"),
        ({"indep_blocks": 0}, "independent blocks"),
    ],
)
def test_bad_zone_instrument_settings(change, message):
    with pytest.raises(LabError, match=message):
        replace(LabRequest(), **change).validate()
