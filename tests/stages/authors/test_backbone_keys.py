"""The backbone key maps against mmpose's own HRNet state dicts, for every variant of the shared
fixture's manifest (W32 and W48): every tensor claimed, none missing, every shape equal."""

from __future__ import annotations

import json

import pytest

from stages.authors.backbone_keys import (AUTHORS_BACKBONE_TO_MMPOSE, OFFICIAL_HRNET_TO_MMPOSE, apply_key_map,
                                          check_against_model)
from stages.authors.importer import detector_model
from tests.helpers import PROJECT_ROOT, SHARED_DATA

MANIFEST = SHARED_DATA.parent / "parity" / "authors_ca_pf" / "manifest.json"


class Shape:
    def __init__(self, shape):
        self.shape = tuple(shape)


def _variants():
    return sorted(json.loads(MANIFEST.read_text())["variants"].items())


@pytest.mark.parametrize("name,variant", _variants(), ids=[name for name, _ in _variants()])
def test_both_maps_cover_mmposes_hrnet_exactly(name, variant):
    width = variant["official_hrnet_checkpoint"]["stage4.0.branches.0.0.conv1.weight"][0]
    official = {k: Shape(s) for k, s in variant["official_hrnet_checkpoint"].items()}
    mapped = apply_key_map(official, OFFICIAL_HRNET_TO_MMPOSE)
    _, _, with_head = detector_model(PROJECT_ROOT / f"configs/extract/video_hrnet_w{width}_authors.py")
    assert mapped.unused == () and check_against_model(mapped.state, with_head.state_dict()) == ([], [], [])
    assert "head.final_layer.weight" in mapped.state and "backbone.stage4.0.branches.3.0.conv1.weight" in mapped.state

    authors = {k: Shape(s) for k, s in variant["authors_checkpoint"].items()}
    mapped = apply_key_map(authors, AUTHORS_BACKBONE_TO_MMPOSE)
    assert all(k.startswith("module.volume_net.") for k in mapped.unused)  # the lifter: another map's job
    _, _, headless = detector_model(PROJECT_ROOT / f"configs/extract/h36m_hrnet_w{width}_authors.py")
    assert check_against_model(mapped.state, headless.state_dict()) == ([], [], [])


def test_a_map_that_drops_the_prefix_wrongly_is_caught():
    """The check can fail: the official names without mmpose's ``backbone.`` prefix match nothing."""
    _, variant = _variants()[0]
    official = {k: Shape(s) for k, s in variant["official_hrnet_checkpoint"].items()}
    mapped = apply_key_map(official, (("", ""),))
    _, _, model = detector_model(PROJECT_ROOT / "configs/extract/video_hrnet_w32_authors.py")
    missing, unexpected, _ = check_against_model(mapped.state, model.state_dict())
    assert len(missing) == len(model.state_dict()) and len(unexpected) == len(official)
