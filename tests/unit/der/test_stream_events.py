"""The 2.1 domain events as API stream events: type, station, site, JSON data."""

from __future__ import annotations

import json

from csms.api.stream import DRIVER_EVENT_TYPES, EVENT_TYPES, api_event
from csms.der import DerAlarm, DerControl, DerControlType, DerStartStop
from csms.events import (
    BatterySwapUpdated,
    DerAlarmRaised,
    DerControlsCleared,
    DerControlSet,
    DerControlsReported,
    DerStartStopped,
)
from csms.swaps.model import requested
from tests.unit.der.station import T0

CONTROL = DerControl(
    "g-1", DerControlType.GRADIENTS, False, {"priority": 1, "gradient": 5.0, "soft_gradient": 1.0}
)
EVENTS = {
    "der.control_set": DerControlSet("S1", CONTROL, ("g-0",), T0),
    "der.controls_cleared": DerControlsCleared("S1", ("g-1",), T0),
    "der.controls_reported": DerControlsReported("S1", 4, (CONTROL,), False, T0),
    "der.alarm": DerAlarmRaised("S1", DerAlarm("S1", DerControlType.HF_MUST_TRIP, T0)),
    "der.start_stop": DerStartStopped("S1", DerStartStop("S1", "g-1", True, T0)),
    "swap.updated": BatterySwapUpdated("S1", requested("S1", 9, "DRIVER", T0), T0),
}


def test_each_2_1_event_has_its_stream_type() -> None:
    for kind, event in EVENTS.items():
        out = api_event(event, event_id=1, now=T0, site_of=lambda sid: "depot")
        assert out is not None, kind
        assert (out.type, out.station_id, out.site_id, out.at) == (kind, "S1", "depot", T0)
        assert kind in EVENT_TYPES
        json.dumps(out.as_json())  # JSON-ready


def test_swaps_carry_driver_data_and_der_events_do_not() -> None:
    assert "swap.updated" in DRIVER_EVENT_TYPES
    assert not {k for k in EVENTS if k.startswith("der.")} & DRIVER_EVENT_TYPES
    data = api_event(EVENTS["swap.updated"], event_id=1, now=T0, site_of=lambda s: None)
    assert data is not None and data.data["id_token"] == "DRIVER"
    assert data.data["state"] == "requested"
