"""``chargegrid ca`` (chargegrid's own CA for station certificates) and ``chargegrid cert``
(certificates of live stations, through the running server's admin channel).

::

    chargegrid ca init --folder /etc/chargegrid/ca --name "Acme station CA" --organization Acme
    chargegrid ca show [--folder DIR | --config chargegrid.toml]
    chargegrid cert renew STATION                 # TriggerMessage: the station sends a CSR
    chargegrid cert install STATION --type CSMSRootCertificate root.pem
    chargegrid cert list STATION [--type CSMSRootCertificate ...]
    chargegrid cert delete STATION --hash-data '{"hashAlgorithm": "SHA256", ...}'
    chargegrid cert revoke STATION [--serial HEX] [--reason keyCompromise]
    chargegrid credentials rotate-password STATION
    chargegrid firmware update STATION --location URL --retrieve-at ISO \
        --signing-certificate PEM --signature B64
    chargegrid firmware log STATION --type SecurityLog --location URL [--oldest ISO] [--latest ISO]
    chargegrid credentials upgrade STATION --profile 3 [--url wss://csms.example:9000/ocpp/]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from csms.cli.common import Handler, fail, send_to_station

__all__ = ["add_commands"]


def _settings(args: argparse.Namespace) -> Any:
    from csms.config import load_settings

    return load_settings(args.config)


def _ca_init(args: argparse.Namespace) -> int:
    from csms.security.ca import CertificateAuthority
    from csms.security.exceptions import SecurityError

    try:
        ca = CertificateAuthority.create(
            args.folder,
            name=args.name,
            organization=args.organization,
            now=datetime.now(UTC),
            valid_days=args.days,
        )
    except (SecurityError, OSError) as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 1
    print(
        f"CA created in {args.folder}: ca.pem (give it to the server's tls_ca_files), "
        f"ca.key (mode 600, keep it secret); valid until "
        f"{ca.cert.not_valid_after_utc:%Y-%m-%d}"
    )
    return 0


def _ca_show(args: argparse.Namespace) -> int:
    from csms.exceptions import CsmsError
    from csms.security.ca import CertificateAuthority

    try:
        folder = args.folder or _settings(args).security.ca_folder
        if folder is None:
            print("chargegrid: no CA: give --folder or set security.ca_folder", file=sys.stderr)
            return 2
        ca = CertificateAuthority.load(Path(folder))
    except CsmsError as exc:
        print(f"chargegrid: {exc}", file=sys.stderr)
        return 1
    c = ca.cert
    print(
        json.dumps(
            {
                "subject": c.subject.rfc4514_string(),
                "serial_number": format(c.serial_number, "x"),
                "not_before": c.not_valid_before_utc.isoformat(),
                "not_after": c.not_valid_after_utc.isoformat(),
                "certificate": str(Path(folder) / "ca.pem"),
            },
            indent=2,
        )
    )
    return 0


def _live(command: str, build: Any) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        from csms.exceptions import CsmsError

        try:
            settings = _settings(args)
            payload = build(args)
        except (CsmsError, OSError) as exc:
            return fail(exc, 2)
        return send_to_station(args, settings, command, payload, cafile=args.ca_file)

    return handler


def _json(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _live_parser(sub: Any, name: str, help_text: str, command: str, build: Any) -> Any:
    """One command to a live station: the station, the settings and the admin channel."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("station_id", metavar="STATION")
    p.add_argument("--config", metavar="FILE", default=None, help="TOML settings file")
    p.add_argument("--server", metavar="URL", default=None, help="admin URL of the server")
    p.add_argument("--admin-token", default=None, help="override server.admin_token")
    p.add_argument(
        "--ca-file",
        default=None,
        help="CA certificate that signed the server's TLS certificate (wss://; default: "
        "the system's CAs)",
    )
    p.set_defaults(func=_live(command, build))
    return p


def add_commands(subparsers: Any) -> None:
    _add_ca(subparsers)
    cert = subparsers.add_parser(
        "cert",
        help="certificates of live stations (renew, install, list, delete, revoke)",
        description="Station certificates through the running server's admin channel "
        "(needs server.admin_token).",
    )
    _add_cert(cert.add_subparsers(dest="cert_command", metavar="ACTION", required=True))
    creds = subparsers.add_parser(
        "credentials",
        help="rotate a live station's password, raise its security profile",
        description="A live station's credentials through the running server's admin "
        "channel (needs server.admin_token).",
    )
    _add_credentials(
        creds.add_subparsers(dest="credentials_command", metavar="ACTION", required=True)
    )
    firmware = subparsers.add_parser(
        "firmware",
        help="signed firmware updates and log uploads of live stations",
        description="Signed firmware updates (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware) "
        "and log uploads (GetLog) through the running server's admin channel.",
    )
    _add_firmware(firmware.add_subparsers(dest="firmware_command", metavar="ACTION", required=True))


def _add_ca(subparsers: Any) -> None:
    ca = subparsers.add_parser(
        "ca",
        help="chargegrid's own certificate authority for station certificates",
        description="Create or show the CA that signs station certificates (SignCertificate).",
    )
    ca_sub = ca.add_subparsers(dest="ca_command", metavar="ACTION", required=True)
    p = ca_sub.add_parser(
        "init", help="create a new CA in a folder", description="Create a new CA in a folder."
    )
    p.add_argument("--folder", type=Path, required=True, help="where ca.pem and ca.key go")
    p.add_argument("--name", required=True, help="the CA's common name")
    p.add_argument("--organization", default=None, help="the CA's organization (O)")
    p.add_argument("--days", type=int, default=3650, help="validity in days (default 3650)")
    p.set_defaults(func=_ca_init)
    p = ca_sub.add_parser("show", help="show the CA certificate", description="Show the CA.")
    p.add_argument("--folder", type=Path, default=None, help="default: security.ca_folder")
    p.add_argument("--config", metavar="FILE", default=None, help="TOML settings file")
    p.set_defaults(func=_ca_show)


def _add_cert(cert_sub: Any) -> None:
    _live_parser(
        cert_sub,
        "renew",
        "ask the station for a new CSR now (TriggerMessage SignChargingStationCertificate)",
        "certificate_renew",
        lambda a: {},
    )
    p = _live_parser(
        cert_sub,
        "install",
        "install a root certificate in the station's trust store (InstallCertificate)",
        "certificate_install",
        lambda a: {"certificate_type": a.type, "certificate": Path(a.file).read_text()},
    )
    p.add_argument(
        "--type",
        required=True,
        help="CSMSRootCertificate, ManufacturerRootCertificate, V2GRootCertificate, "
        "MORootCertificate (1.6: CentralSystemRootCertificate, ManufacturerRootCertificate)",
    )
    p.add_argument("file", help="PEM certificate file")
    p = _live_parser(
        cert_sub,
        "list",
        "list the station's installed certificates (GetInstalledCertificateIds)",
        "certificate_list",
        lambda a: {"types": a.type or []},
    )
    p.add_argument("--type", action="append", default=None, help="only this type (repeatable)")
    p = _live_parser(
        cert_sub,
        "delete",
        "delete a certificate from the station (DeleteCertificate)",
        "certificate_delete",
        lambda a: {"hash_data": a.hash_data},
    )
    p.add_argument(
        "--hash-data", type=_json, required=True, help="hash data as `cert list` printed it"
    )

    p = _live_parser(
        cert_sub,
        "revoke",
        "revoke certificates chargegrid's CA issued to the station (all still valid, or "
        "--serial); its open connection on a revoked one is closed",
        "certificate_revoke",
        lambda a: {"serial_number": a.serial, "reason": a.reason},
    )
    p.add_argument("--serial", default=None, help="hexadecimal serial number (default: all)")
    p.add_argument(
        "--reason",
        default="unspecified",
        choices=(
            "unspecified",
            "keyCompromise",
            "affiliationChanged",
            "superseded",
            "cessationOfOperation",
        ),
        help="RFC 5280 reason, kept in the revocation list",
    )


def _add_firmware(fw_sub: Any) -> None:
    p = _live_parser(
        fw_sub,
        "update",
        "ask the station to fetch, verify and install signed firmware",
        "firmware_update",
        lambda a: {
            "location": a.location,
            "retrieve_at": a.retrieve_at,
            "install_at": a.install_at,
            "signing_certificate": Path(a.signing_certificate).read_text(),
            "signature": a.signature,
        },
    )
    p.add_argument("--location", required=True, help="URL of the firmware")
    p.add_argument("--retrieve-at", required=True, help="ISO 8601 time with its offset")
    p.add_argument("--install-at", default=None, help="ISO 8601 time with its offset")
    p.add_argument(
        "--signing-certificate", required=True, help="PEM file the firmware was signed with"
    )
    p.add_argument("--signature", required=True, help="the firmware's signature, base64")
    p = _live_parser(
        fw_sub,
        "log",
        "ask the station to upload its diagnostics or security log (GetLog)",
        "log_get",
        lambda a: {
            "log_type": a.type,
            "remote_location": a.location,
            "oldest": a.oldest,
            "latest": a.latest,
        },
    )
    p.add_argument("--type", choices=("DiagnosticsLog", "SecurityLog"), required=True)
    p.add_argument("--location", required=True, help="URL the station uploads to")
    p.add_argument("--oldest", default=None, help="ISO 8601 time with its offset")
    p.add_argument("--latest", default=None, help="ISO 8601 time with its offset")


def _add_credentials(cred_sub: Any) -> None:
    _live_parser(
        cred_sub,
        "rotate-password",
        "give the station a new random Basic-auth password (the old one is accepted until "
        "the station connects with the new one)",
        "password_rotate",
        lambda a: {},
    )
    p = _live_parser(
        cred_sub,
        "upgrade",
        "raise the station's security profile (2.0.1 SetNetworkProfile + reset; 1.6 "
        "ChangeConfiguration SecurityProfile); never down",
        "profile_upgrade",
        lambda a: {"profile": a.profile, "csms_url": a.url},
    )
    p.add_argument("--profile", type=int, choices=(2, 3), required=True)
    p.add_argument(
        "--url", default=None, help="2.0.1: the wss:// URL for the station (default: this server)"
    )
