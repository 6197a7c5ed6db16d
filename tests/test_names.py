from datetime import UTC, datetime

import pytest
from conftest import DOCS

from farside import parse_name
from farside.errors import ProductNameError

REAL_NAMES = [line.strip() for line in (DOCS / "product-names.txt").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_every_real_name_parses_and_round_trips(name):
    parsed = parse_name(name)
    # Reassemble the name from the fields: an independent check that nothing was dropped or altered.
    instrument_field = parsed.instrument + (parsed.camera or "")
    instrument_field += f"-{parsed.mode}" if parsed.mode else ""
    stamp = parsed.start_time.strftime("%Y%m%d%H%M%S")
    rebuilt = (
        f"{parsed.mission}_{parsed.centre}_{instrument_field}-{parsed.serial}_SCI_{parsed.data_flag}_"
        f"{stamp}_{parsed.stop_time:%Y%m%d%H%M%S}_{parsed.sequence_id}_{parsed.version}.{parsed.level}"
    )
    assert rebuilt + ("L" if parsed.is_label else "") == name
    assert parsed.product_id == rebuilt


def test_fields_of_known_names():
    n = parse_name("CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_20190104084559_0001_B.2BL")
    assert (n.mission, n.centre, n.instrument, n.camera, n.mode, n.serial) == (
        "CE4",
        "GRAS",
        "PCAM",
        "L",
        "C",
        "006",
    )
    assert n.start_time == datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    assert (n.sequence_id, n.version, n.level, n.is_label) == ("0001", "B", "2B", True)

    ce3 = parse_name("CE3_BMYK_LCAM-4531_SCI_N_20131214131240_20131214131240_0001_A.2A")
    assert (ce3.mission, ce3.centre, ce3.instrument, ce3.mode, ce3.serial, ce3.is_label) == (
        "CE3", "BMYK", "LCAM", None, "4531", False,
    )  # fmt: skip
    tw = parse_name("HX1-Ro_GRAS_MSCam-W-1-29-0001-05_SCI_N_20220131185235_20220131185235_00256_A.2BL")
    assert (tw.mission, tw.instrument, tw.mode, tw.serial, tw.sequence_id) == (
        "HX1-Ro", "MSCam", "W", "1-29-0001-05", "00256",
    )  # fmt: skip
    nate = parse_name("HX1-Ro_GRAS_NaTeCamA-F-005_SCI_N_20220412171830_20220412171830_00325_A.2CL")
    assert (nate.instrument, nate.camera) == ("NaTeCam", "A")
    assert (
        parse_name("/some/dir/CE5-L_GRAS_LCAM-1-0010_SCI_N_20201201150302_20201201150302_0001_A.2AL").mission
        == "CE5-L"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "kodim01.png",
        "CE4_GRAS_PCAML-C-006_SCI_N_20190104084559_0001_B.2BL",  # one time missing
        "CE4_GRAS_PCAML-C-006_SCI_X_20190104084559_20190104084559_0001_B.2BL",  # bad data flag
        "CE4_GRAS_PCAML-C-006_SCI_N_20191304084559_20191304084559_0001_B.2BL",  # month 13
        "CE4_GRAS_PCAML_SCI_N_20190104084559_20190104084559_0001_B.2BL",  # no serial
    ],
)
def test_bad_names_are_rejected_in_one_line(bad):
    with pytest.raises(ProductNameError) as info:
        parse_name(bad)
    message = str(info.value)
    assert "\n" not in message and bad.split("/")[-1] in message
