import pytest

from customer_service.desktop.geometry import Rect, RegionError, Regions

REGIONS = {"conversation_list": [0, 0, 220, 620], "chat_header": [220, 0, 680, 44],
           "transcript": {"x": 220, "y": 44, "w": 680, "h": 480}, "input_box": [228, 532, 576, 80],
           "send_button": {"x": 812, "y": 580, "width": 80, "height": 32}}


def test_regions_parse_lists_and_mappings_and_round_trip():
    regions = Regions.from_mapping(REGIONS)

    assert regions.transcript == Rect(220, 44, 680, 480)
    assert Regions.from_mapping(regions.as_dict()) == regions


def test_regions_name_what_is_missing_or_wrong():
    with pytest.raises(RegionError, match="send_button"):
        Regions.from_mapping({k: v for k, v in REGIONS.items() if k != "send_button"})
    with pytest.raises(RegionError, match="transcript"):
        Regions.from_mapping({**REGIONS, "transcript": [0, 0, 0, 10]})
    with pytest.raises(RegionError, match="chat_header"):
        Regions.from_mapping({**REGIONS, "chat_header": "wide"})


def test_regions_outside_a_smaller_window_are_named():
    regions = Regions.from_mapping(REGIONS)

    assert regions.outside((900, 620)) == []
    assert regions.outside((850, 600)) == ["conversation_list", "chat_header", "transcript", "input_box",
                                          "send_button"]


def test_rect_intersection_and_offset():
    assert Rect(0, 0, 10, 10).intersection(Rect(5, 5, 10, 10)) == Rect(5, 5, 5, 5)
    assert Rect(0, 0, 10, 10).intersection(Rect(10, 0, 5, 5)) is None
    assert Rect(1, 2, 3, 4).offset(10, 20) == Rect(11, 22, 3, 4)
