"""The telemetry schema: measurement names, tag keys and field keys, in one place.

``docs/telemetry-schema.md`` describes the same schema for people; a test checks that the page
names every measurement, tag and field defined here and quotes :func:`expected_series`.

Tags are bounded sets (station, EVSE, connector, measurand, phase, site, asset ids and small
enumerations); identifiers that grow without bound (transaction ids, plan ids, timestamps) are
fields, never tags.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MEASUREMENTS",
    "SCHEMA_VERSION",
    "Field",
    "Measurement",
    "SeriesEstimate",
    "Tag",
    "expected_series",
]

#: Bumped when a measurement, tag or field changes meaning or type (see the schema page).
SCHEMA_VERSION = 5


class Measurement:
    """Measurement names."""

    METER = "meter"
    STATUS = "status"
    TRANSACTION = "transaction"
    CONNECTION = "connection"
    CHARGING_LIMIT = "charging_limit"
    PLAN = "plan"
    GRID_CONSTRAINT = "grid_constraint"
    STORAGE = "storage"
    SITE = "site"
    SWAP = "swap"
    DER = "der"


class Tag:
    """Tag keys."""

    STATION = "station"
    EVSE = "evse"
    CONNECTOR = "connector"
    MEASURAND = "measurand"
    PHASE = "phase"
    LOCATION = "location"
    UNIT = "unit"
    EVENT = "event"
    PURPOSE = "purpose"
    SITE = "site"
    ASSET_KIND = "asset_kind"
    ASSET = "asset"
    KIND = "kind"
    NODE = "node"
    STORAGE = "storage"
    CONTROL_TYPE = "control_type"


class Field:
    """Field keys."""

    VALUE = "value"
    CONTEXT = "context"
    TRANSACTION_ID = "transaction_id"
    STATUS = "status"
    ERROR_CODE = "error_code"
    INFO = "info"
    VENDOR_ERROR_CODE = "vendor_error_code"
    STATION_TX_ID = "station_tx_id"
    METER_WH = "meter_wh"
    ENERGY_WH = "energy_wh"
    STOP_REASON = "stop_reason"
    CHARGING_STATE = "charging_state"
    OCPP_VERSION = "ocpp_version"
    REASON = "reason"
    REGISTRATION = "registration"
    VENDOR = "vendor"
    MODEL = "model"
    FIRMWARE = "firmware"
    LIMIT = "limit"
    NUMBER_PHASES = "number_phases"
    ACCEPTED = "accepted"
    PROFILE_ID = "profile_id"
    STACK_LEVEL = "stack_level"
    POWER_W = "power_w"
    ENERGY_SETPOINT_WH = "energy_wh"
    CONSTRAINT = "constraint"
    PLAN_ID = "plan_id"
    LIMIT_W = "limit_w"
    ACTIVE = "active"
    CONSTRAINT_ID = "constraint_id"
    SOC_PCT = "soc_pct"
    SETPOINT_W = "setpoint_w"
    IMPORT_W = "import_w"
    EXPORT_W = "export_w"
    PV_W = "pv_w"
    LOAD_W = "load_w"
    IMPORT_PRICE_PER_KWH = "import_price_per_kwh"
    SWAP_ID = "swap_id"
    REQUEST_ID = "request_id"
    PACKS_IN = "packs_in"
    PACKS_OUT = "packs_out"
    SOC_IN_PCT = "soc_in_pct"
    SOC_OUT_PCT = "soc_out_pct"
    ENERGY_IN_WH = "energy_in_wh"
    ENERGY_OUT_WH = "energy_out_wh"
    DURATION_S = "duration_s"
    AUTH_STATUS = "auth_status"
    READY_PACK = "ready_pack"
    READY_SOC_PCT = "ready_soc_pct"
    RACK = "rack"
    CONTROL_ID = "control_id"
    IN_FORCE = "in_force"
    IS_DEFAULT = "is_default"
    PRIORITY = "priority"
    SUPERSEDED = "superseded"
    GRID_EVENT_FAULT = "grid_event_fault"
    EXTRA_INFO = "extra_info"


#: Measurement -> (tag keys, field keys). The tag order is the sorted order line protocol uses.
MEASUREMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Measurement.METER: (
        (Tag.CONNECTOR, Tag.EVSE, Tag.LOCATION, Tag.MEASURAND, Tag.PHASE, Tag.STATION, Tag.UNIT),
        (Field.VALUE, Field.TRANSACTION_ID, Field.CONTEXT),
    ),
    Measurement.STATUS: (
        (Tag.CONNECTOR, Tag.EVSE, Tag.STATION),
        (Field.STATUS, Field.ERROR_CODE, Field.INFO, Field.VENDOR_ERROR_CODE),
    ),
    Measurement.TRANSACTION: (
        (Tag.EVENT, Tag.EVSE, Tag.STATION),
        (
            Field.TRANSACTION_ID,
            Field.STATION_TX_ID,
            Field.METER_WH,
            Field.ENERGY_WH,
            Field.STOP_REASON,
            Field.CHARGING_STATE,
        ),
    ),
    Measurement.CONNECTION: (
        (Tag.EVENT, Tag.STATION),
        (
            Field.VALUE,
            Field.OCPP_VERSION,
            Field.REASON,
            Field.REGISTRATION,
            Field.VENDOR,
            Field.MODEL,
            Field.FIRMWARE,
        ),
    ),
    Measurement.CHARGING_LIMIT: (
        (Tag.EVSE, Tag.PURPOSE, Tag.STATION, Tag.UNIT),
        (
            Field.LIMIT,
            Field.NUMBER_PHASES,
            Field.ACCEPTED,
            Field.PROFILE_ID,
            Field.STACK_LEVEL,
            Field.TRANSACTION_ID,
        ),
    ),
    Measurement.PLAN: (
        (Tag.ASSET, Tag.ASSET_KIND, Tag.SITE),
        (
            Field.POWER_W,
            Field.ENERGY_SETPOINT_WH,
            Field.SOC_PCT,
            Field.CONSTRAINT,
            Field.LIMIT_W,
            Field.PLAN_ID,
            Field.IMPORT_PRICE_PER_KWH,
        ),
    ),
    Measurement.GRID_CONSTRAINT: (
        (Tag.KIND, Tag.NODE, Tag.SITE, Tag.UNIT),
        (Field.VALUE, Field.REASON, Field.ACTIVE, Field.CONSTRAINT_ID),
    ),
    Measurement.STORAGE: (
        (Tag.SITE, Tag.STORAGE),
        (Field.SOC_PCT, Field.SETPOINT_W, Field.POWER_W),
    ),
    Measurement.SITE: (
        (Tag.SITE,),
        (Field.IMPORT_W, Field.EXPORT_W, Field.PV_W, Field.LOAD_W),
    ),
    Measurement.SWAP: (
        (Tag.EVENT, Tag.SITE, Tag.STATION),
        (
            Field.SWAP_ID,
            Field.REQUEST_ID,
            Field.PACKS_IN,
            Field.PACKS_OUT,
            Field.SOC_IN_PCT,
            Field.SOC_OUT_PCT,
            Field.ENERGY_IN_WH,
            Field.ENERGY_OUT_WH,
            Field.DURATION_S,
            Field.AUTH_STATUS,
            Field.READY_PACK,
            Field.READY_SOC_PCT,
            Field.RACK,
        ),
    ),
    Measurement.DER: (
        (Tag.CONTROL_TYPE, Tag.EVENT, Tag.STATION),
        (
            Field.VALUE,
            Field.CONTROL_ID,
            Field.IN_FORCE,
            Field.IS_DEFAULT,
            Field.PRIORITY,
            Field.SUPERSEDED,
            Field.GRID_EVENT_FAULT,
            Field.EXTRA_INFO,
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class SeriesEstimate:
    """Series per measurement for a fleet; ``total`` is what InfluxDB's series index holds."""

    per_measurement: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.per_measurement.values())


def expected_series(
    *,
    stations: int = 10_000,
    evses_per_station: int = 2,
    meter_series_per_evse: int = 9,
    meter_series_per_station: int = 1,
    status_events: int = 1,
    limit_purposes: int = 2,
    sites: int = 100,
    storage_units_per_site: int = 2,
    grid_constraint_kinds: int = 4,
    constrained_nodes_per_site: int = 1,
    nodes_per_site: int = 2,
    swap_stations_per_site: int = 1,
    der_control_types: int = 3,
) -> SeriesEstimate:
    """The series count of the schema for a fleet.

    Defaults describe the reference fleet of the schema page: per EVSE (one connector each)
    energy register, active power, current and voltage on three phases and SoC (9 meter
    series), one station-level meter series (connector 0), status per connector plus station,
    transactions (started/updated/ended) per EVSE, connection events (connected, disconnected,
    booted, heartbeat) per station, limits for two purposes per EVSE plus the station, a plan
    series per EVSE, storage unit and limit-tree node (a grid connection and a feeder per
    site), storage and site series per site; per swap station its four session events and
    its rack's two (a swap with, and one without, a ready pack); per storage unit (the units
    DER controls are set on) the DER events with a control type (set, reported, alarm,
    alarm ended) for each of ``der_control_types`` types in use, and the three without one
    (cleared, started, stopped).
    """
    evses = stations * evses_per_station
    storage_units = sites * storage_units_per_site
    return SeriesEstimate(
        per_measurement={
            Measurement.METER: evses * meter_series_per_evse + stations * meter_series_per_station,
            Measurement.STATUS: (evses + stations) * status_events,
            Measurement.TRANSACTION: evses * 3,
            Measurement.CONNECTION: stations * 4,
            Measurement.CHARGING_LIMIT: (evses + stations) * limit_purposes,
            Measurement.PLAN: evses + storage_units + sites * nodes_per_site,
            Measurement.GRID_CONSTRAINT: sites * constrained_nodes_per_site * grid_constraint_kinds,
            Measurement.STORAGE: storage_units,
            Measurement.SITE: sites,
            Measurement.SWAP: sites * swap_stations_per_site * 6,
            Measurement.DER: storage_units * (4 * der_control_types + 3),
        }
    )
