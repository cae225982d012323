"""The tables, as SQLAlchemy Core metadata (Core, not the ORM, for the hot paths).

RequestID counters are unsigned 64-bit: beyond a signed BIGINT, and SQLite turns integers above
2^63 into lossy REALs. So they are stored as 20-digit zero-padded text (``u64_text``), whose
text order is their numeric order on every database.
EUI-64s are stored in their canonical text form (``90-B3-D5-1F-30-01-00-00``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

EUI = String(23)
U64 = String(20)
REQUEST_ID = String(70)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store takes timezone-aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


AWARE = UtcDateTime()


def u64_text(value: int) -> str:
    if not 0 <= value < 1 << 64:
        raise ValueError(f"not an unsigned 64-bit value: {value}")
    return f"{value:020d}"


users = Table(
    "users",
    metadata,
    Column("user_id", EUI, primary_key=True),
    Column("status", String(16), nullable=False),  # active | suspended
    Column("callback_url", String(2048), nullable=False),
    Column("created_at", AWARE, nullable=False),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", EUI, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(3), primary_key=True),  # IS ES GS ED GT OU RSA
)

# Replay protection: the highest originator counter accepted from each User.
originator_counters = Table(
    "originator_counters",
    metadata,
    Column("user_id", EUI, primary_key=True),
    Column("last_counter", U64, nullable=False),
)

service_requests = Table(
    "service_requests",
    metadata,
    Column("request_id", REQUEST_ID, primary_key=True),
    Column("originator", EUI, nullable=False),
    Column("target", EUI, nullable=False),
    Column("counter", U64, nullable=False),
    Column("srv", String(10), nullable=False),
    Column("command_variant", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("received_at", AWARE, nullable=False),
    Column("updated_at", AWARE, nullable=False),
    Column("execute_at", AWARE, nullable=True),
    Column("document", LargeBinary, nullable=False),  # the signed request as received
    Column("response_code", String(8), nullable=True),  # the answer's DUIS code, once answered
    # 0007: sequencing (DUIS PrecedingServiceRequestID): the request this one waits for
    Column("preceding_request_id", REQUEST_ID, nullable=True),
    Index("ix_service_requests_state", "state"),
)

request_transitions = Table(
    "request_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        REQUEST_ID,
        ForeignKey("service_requests.request_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("source", String(16), nullable=True),  # None for the first row
    Column("target", String(16), nullable=False),
    Column("at", AWARE, nullable=False),
)

# --------------------------------------------------------------------------- 0002: the spine

# A User's XML-signing certificates (SMKI Organisation Certificates), by IssuerSerial: the key
# a request's ds:X509IssuerSerial names.
user_certificates = Table(
    "user_certificates",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("serial", String(64), primary_key=True),  # decimal: serials exceed 64 bits
    Column("user_id", EUI, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("pem", Text, nullable=False),
    Column("not_after", AWARE, nullable=False),
    Index("ix_user_certificates_user_id", "user_id"),
)

# Anomaly detection: at most ``max_requests`` of one SRV from one User per rolling window.
anomaly_thresholds = Table(
    "anomaly_thresholds",
    metadata,
    Column("user_id", EUI, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("srv", String(10), primary_key=True),
    Column("max_requests", Integer, nullable=False),
    Column("window_seconds", Integer, nullable=False),
)

# A minimal Smart Metering Inventory (the full one, with its status lifecycle, is issue 4's).
devices = Table(
    "devices",
    metadata,
    Column("device_id", EUI, primary_key=True),
    Column("device_type", String(8), nullable=False),
    Column("smi_status", String(32), nullable=False),
    Column("cohort", String(32), nullable=True),  # SMETS1 devices: which S1SP serves them
    Column("mpxn", String(13), nullable=True),
    Column("manufacturer", String(30), nullable=False),
    Column("model", String(30), nullable=False),
    Column("firmware_version", String(64), nullable=True),
    Column("created_at", AWARE, nullable=False),
    # 0003: the full inventory
    Column("smets_generation", String(8), nullable=True),  # SMETS1 | SMETS2
    Column("hardware_version", String(30), nullable=True),
    Column("serial_number", String(40), nullable=True),  # not unique: never a key
    Column("comms_hub_id", EUI, nullable=True),  # the CHF whose HAN the device is on
    Column("gas_proxy_id", EUI, nullable=True),  # a GSME's GPF
    Column("installation_id", String(64), nullable=True),  # from the migration file
    Column("status_since", AWARE, nullable=True),
    Column("commissioned_at", AWARE, nullable=True),
    Index("ix_devices_mpxn", "mpxn"),
    Index("ix_devices_serial_number", "serial_number"),
    Index("ix_devices_comms_hub_id", "comms_hub_id"),
    Index("ix_devices_installation_id", "installation_id"),
)

# Every SMI status change of every device, with its effective time and why.
device_status_history = Table(
    "device_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", EUI, nullable=False),
    Column("source", String(32), nullable=True),  # None when the device entered the SMI
    Column("target", String(32), nullable=False),
    Column("at", AWARE, nullable=False),
    Column("reason", String(256), nullable=False),
    Index("ix_device_status_history_device_id", "device_id"),
)

# Registration data: who holds each role for a metering point from when (E4).
registrations = Table(
    "registrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mpxn", String(13), nullable=False),
    Column("role", String(3), nullable=False),
    Column("user_id", EUI, nullable=False),
    Column("effective_from", AWARE, nullable=False),
    Index("ix_registrations_mpxn", "mpxn"),
    Index("ix_registrations_user_id", "user_id"),
)

# Every request's outcome at the front door, accepted or rejected, hash-chained.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", AWARE, nullable=False),
    Column("endpoint", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),  # I99, I0, E1 ... or HTTP status
    Column("reason", String(512), nullable=False),
    Column("request_id", REQUEST_ID, nullable=True),
    Column("originator", EUI, nullable=True),
    Column("srv", String(10), nullable=True),
    Column("digest", String(64), nullable=False),  # SHA-256 of the document as received
    Column("chain", String(64), nullable=False),  # SHA-256(previous chain || this record)
    Index("ix_audit_log_request_id", "request_id"),
    Index("ix_audit_log_endpoint", "endpoint", "at"),
)

# The embedded queue: one leased row per device request a worker owes work on.
jobs = Table(
    "jobs",
    metadata,
    Column(
        "request_id",
        REQUEST_ID,
        ForeignKey("service_requests.request_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("run_after", AWARE, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", AWARE, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # 0005: higher first; prepayment (top-ups) is never queued behind bulk reads
    Column("priority", Integer, nullable=False, default=0, server_default="0"),
    # 0007: a sequenced request's job is not claimed while its predecessor is unfinished
    Column("waits_for", REQUEST_ID, nullable=True),
    Index("ix_jobs_run_after", "run_after"),
    Index("ix_jobs_waits_for", "waits_for"),
)

# Responses and alerts on their way to a User's callback URL, delivered at least once.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_key", String(96), nullable=False, unique=True),  # kind:ResponseID/AlertID
    Column("user_id", EUI, nullable=False),
    Column("request_id", REQUEST_ID, nullable=True),
    Column("url", String(2048), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", AWARE, nullable=False),
    Column("next_attempt_at", AWARE, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", AWARE, nullable=True),
    Column("delivered_at", AWARE, nullable=True),
    Column("last_error", String(512), nullable=True),
    # Messages with the same key (an alert's User and device) are delivered one after another,
    # in id order; None: no order to keep (answers to requests).
    Column("ordering_key", String(48), nullable=True),
    Column("alert_id", Integer, nullable=True),  # the alert this message carries, if any
    # 0007: bulk messages (DCC-scheduled runs' Responses) go after every interactive one
    Column("bulk", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),
    Index("ix_outbox_bulk", "delivered_at", "bulk", "id"),
    Index("ix_outbox_ordering_key", "ordering_key", "delivered_at"),
    Index("ix_outbox_user_id", "user_id", "id"),
)


# --------------------------------------------------------------------------- 0003: inventory

# The CPL (Central Products List): device models and firmware versions opendcc supports.
cpl_entries = Table(
    "cpl_entries",
    metadata,
    Column("manufacturer", String(30), primary_key=True),
    Column("model", String(30), primary_key=True),
    Column("hardware_version", String(30), primary_key=True),  # "" when any
    Column("firmware_version", String(8), primary_key=True),
    Column("device_type", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # Active Cancelled Expired Withdrawn
    Column("added_on", AWARE, nullable=False),
)

# SMETS1 Eligible Product Combinations: model combinations that passed testing with an S1SP.
eligible_combinations = Table(
    "eligible_combinations",
    metadata,
    Column("cohort", String(32), primary_key=True),  # the S1SP (comms provider)
    Column("chf_model", String(64), primary_key=True),  # "manufacturer/model"
    Column("esme_model", String(64), primary_key=True),  # "" when none
    Column("gsme_model", String(64), primary_key=True),  # "" when none
    Column("gpf_model", String(64), primary_key=True),  # "" when none
    Column("added_on", AWARE, nullable=False),
)

# A supplier's migration file, as submitted, and how far loading it got.
migration_batches = Table(
    "migration_batches",
    metadata,
    Column("batch_id", String(40), primary_key=True),
    Column("submitter", EUI, nullable=False),
    Column("file_name", String(512), nullable=False),
    Column("file_digest", String(64), nullable=False),  # SHA-256: the same file resumes
    Column("submitted_at", AWARE, nullable=False),
    Column("loaded_records", Integer, nullable=False),  # records validated and stored so far
    Column("loaded", Integer, nullable=False),  # 1 when every record is stored
    Index("ix_migration_batches_file_digest", "file_digest"),
)

# One row per installation of a batch: where it is in the migration lifecycle.
migration_installations = Table(
    "migration_installations",
    metadata,
    Column("batch_id", String(40), primary_key=True),
    Column("record", Integer, primary_key=True),  # 1-based record number in the file
    Column("installation_id", String(64), nullable=True),
    Column("mode", String(8), nullable=True),  # active | dormant
    Column("cohort", String(32), nullable=True),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", AWARE, nullable=True),  # when the next device test may run
    Column("category", String(32), nullable=True),  # the last failure category
    Column("reasons", Text, nullable=False),  # JSON list of {"code", "detail"}
    Column("devices", Text, nullable=False),  # JSON list of [device_id, type]
    Column("updated_at", AWARE, nullable=False),
    Index("ix_migration_installations_due", "state", "due_at"),
    Index("ix_migration_installations_installation_id", "installation_id"),
)

# Replies a head-end gave after the request was already answered to the User as timed out
# (E21): recorded for the S1SP's performance reporting, never delivered a second time.
s1sp_late_replies = Table(
    "s1sp_late_replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", REQUEST_ID, nullable=False),
    Column("cohort", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("detail", String(256), nullable=False),
    Column("received_at", AWARE, nullable=False),
    Index("ix_s1sp_late_replies_request_id", "request_id"),
)

# The UTRN ledger: every prepayment token the S1SP issued, and where it is (``prepayment.ledger``).
utrns = Table(
    "utrns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("utrn", String(20), nullable=False),
    Column("device_id", EUI, nullable=False),
    Column("cohort", String(32), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("counter", U64, nullable=False),  # the token's replay counter, u64 text
    Column("amount_p", Integer, nullable=False),
    Column("supplier", EUI, nullable=False),  # responsible for the device when issued
    Column("requester", String(64), nullable=False),  # the supplier, or the PSP's id
    Column("reference", String(64), nullable=True),  # the requester's payment reference
    Column("route", String(8), nullable=False),  # "utrn" (to key in or send by 2.2) | "one-step"
    Column("state", String(12), nullable=False),  # issued sent applied rejected cancelled
    Column("channel", String(8), nullable=True),  # how it was applied: "ota" | "keypad"
    Column("request_id", REQUEST_ID, nullable=True),  # the instruction that carried it
    Column("detail", String(256), nullable=False, default=""),
    Column("issued_at", AWARE, nullable=False),
    Column("updated_at", AWARE, nullable=False),
    UniqueConstraint("device_id", "counter", name="uq_utrns_device_counter"),
    UniqueConstraint("requester", "reference", name="uq_utrns_requester_reference"),
    Index("ix_utrns_utrn", "utrn"),
    Index("ix_utrns_state", "state"),
)

# Each UTRN's changes of state, for the supplier's and the auditor's questions.
utrn_events = Table(
    "utrn_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("utrn_id", Integer, ForeignKey("utrns.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(12), nullable=False),
    Column("at", AWARE, nullable=False),
    Column("detail", String(256), nullable=False),
    Index("ix_utrn_events_utrn_id", "utrn_id"),
)

# Payment Allocation Numbers: the number on a consumer's payment card, linked to a meter point.
pans = Table(
    "pans",
    metadata,
    Column("pan", String(19), primary_key=True),
    Column("mpxn", String(13), nullable=False),
    Column("registered_by", EUI, nullable=False),
    Column("registered_at", AWARE, nullable=False),
    Index("ix_pans_mpxn", "mpxn"),
)

# Payment Service Providers a supplier lets ask for UTRNs for its consumers.
psp_nominations = Table(
    "psp_nominations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("supplier", EUI, nullable=False),
    Column("psp", String(64), nullable=False),
    Column("nominated_at", AWARE, nullable=False),
    Column("revoked_at", AWARE, nullable=True),
    Index("ix_psp_nominations_psp", "psp"),
)

# Bearer keys of the UTRN service: only a SHA-256 of each key is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("principal", String(64), nullable=False),  # a supplier's EUI-64, or a PSP's id
    Column("kind", String(8), nullable=False),  # "supplier" | "psp"
    Column("created_at", AWARE, nullable=False),
    Column("revoked_at", AWARE, nullable=True),
)


# ------------------------------------------------------------------- 0006: restricted, alerts

# Restricted mode (MP169): meters whose consumer refused smart functionality. One row per device
# ever restricted (a GSME's restriction also covers its GPF: ``meter_id`` names the GSME).
restrictions = Table(
    "restrictions",
    metadata,
    Column("device_id", EUI, primary_key=True),
    Column("meter_id", EUI, nullable=False),  # the ESME or GSME the supplier named
    Column("restricted", Boolean, nullable=False),
    Column("since", AWARE, nullable=False),  # when it was last set or cleared
    Column("changed_by", EUI, nullable=False),  # the supplier responsible at that moment
    Column("reason", String(256), nullable=False),
)

# Every set and clear, never rewritten: who, when, why.
restriction_history = Table(
    "restriction_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", EUI, nullable=False),
    Column("restricted", Boolean, nullable=False),
    Column("at", AWARE, nullable=False),
    Column("changed_by", EUI, nullable=False),
    Column("reason", String(256), nullable=False),
    Index("ix_restriction_history_device_id", "device_id"),
)

# Messages the DCC owes an S1SP (a restriction set or cleared), carried until the head-end
# took them.
s1sp_notices = Table(
    "s1sp_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", EUI, nullable=False),
    Column("cohort", String(32), nullable=False),
    Column("srv", String(10), nullable=False),
    Column("parameters", Text, nullable=False),  # JSON object
    Column("created_at", AWARE, nullable=False),
    Column("next_attempt_at", AWARE, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", AWARE, nullable=True),
    Column("last_error", String(256), nullable=True),
    Index("ix_s1sp_notices_pending", "sent_at", "next_attempt_at"),
)

# Every alert the DCC took for delivery: device alerts from the head-ends, DCC and S1SP alerts the
# hub raised. ``disposition`` says what became of it (``alerts.route``).
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # device | dcc
    Column("code", String(8), nullable=False),  # 4 hex digits (device) or N-code / AD1 (dcc)
    Column("device_id", EUI, nullable=True),
    Column("cohort", String(32), nullable=True),
    Column("raised_at", AWARE, nullable=False),
    Column("received_at", AWARE, nullable=False),
    Column("alert_values", Text, nullable=False),  # JSON object
    Column("disposition", String(16), nullable=False),  # delivered throttled no-recipient
    Column("recipients", Integer, nullable=False, default=0),
    Index("ix_alerts_device_id", "device_id"),
)

# Alerts from restricted devices that are not delivered (MP169): kept only for diagnostics and
# triage, outside the alert record and the audit trail.
alert_diagnostics = Table(
    "alert_diagnostics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", EUI, nullable=False),
    Column("cohort", String(32), nullable=False),
    Column("code", String(8), nullable=False),
    Column("raised_at", AWARE, nullable=False),
    Column("received_at", AWARE, nullable=False),
    Column("alert_values", Text, nullable=False),
    Column("reason", String(64), nullable=False),
    Index("ix_alert_diagnostics_device_id", "device_id"),
)

# A User's choices for non-mandatory alerts: "on" (subscribed) or "off" (suppressed).
alert_subscriptions = Table(
    "alert_subscriptions",
    metadata,
    Column("user_id", EUI, primary_key=True),
    Column("code", String(8), primary_key=True),
    Column("choice", String(4), nullable=False),
    Column("updated_at", AWARE, nullable=False),
)

# Firmware watch (MP169 risk R-001): restricted devices whose firmware updates keep failing.
firmware_watch = Table(
    "firmware_watch",
    metadata,
    Column("device_id", EUI, primary_key=True),
    Column("failures", Integer, nullable=False),  # in a row, since the last success
    Column("last_failure_at", AWARE, nullable=True),
    Column("last_detail", String(256), nullable=False, default=""),
    Column("flagged_at", AWARE, nullable=True),  # when the supplier was told
)

# DCC schedules (SRV 5.1): one recurring DSP-scheduled request per row. ``schedule_id`` is the
# DSPScheduleID. ``next_run_at`` is the next nominal occurrence; ``due_at`` the instant the run is
# made (the nominal one plus the schedule's spread offset). A run leases its row while it is
# carried out; the lease's end makes an interrupted run claimable again.
schedules = Table(
    "schedules",
    metadata,
    Column("schedule_id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", EUI, nullable=False),
    Column("device_id", EUI, nullable=False),
    Column("srv", String(10), nullable=False),  # the DSPScheduledServiceReferenceVariant
    Column("frequency", String(12), nullable=False),  # Daily Weekly Monthly ... Yearly
    Column("start_date", String(10), nullable=False),  # ISO date
    Column("end_date", String(10), nullable=True),
    Column("execution_time", String(8), nullable=False),  # HH:MM:SS, UTC
    Column("body", Text, nullable=False),  # the sr:DSPSchedule element as the User sent it
    Column("created_by", REQUEST_ID, nullable=False),  # the 5.1 request
    Column("created_at", AWARE, nullable=False),
    Column("state", String(10), nullable=False),  # active | ended | deleted | stopped
    Column("next_run_at", AWARE, nullable=True),
    Column("due_at", AWARE, nullable=True),
    Column("lease_until", AWARE, nullable=True),
    Column("runs", Integer, nullable=False, default=0),
    Column("last_run_at", AWARE, nullable=True),
    Column("last_outcome", String(8), nullable=True),  # I0, E20, E21 ... or "missed"
    Column("stopped_reason", String(256), nullable=True),
    Index("ix_schedules_due", "state", "due_at"),
    Index("ix_schedules_device_id", "device_id"),
    Index("ix_schedules_user_id", "user_id"),
)

# The firmware library: images per device model, each tied to its CPL entry (manufacturer,
# model, firmware version) and known by the SHA-256 hash of the image.
firmware_images = Table(
    "firmware_images",
    metadata,
    Column("image_hash", String(64), primary_key=True),  # SHA-256, lower-case hex
    Column("manufacturer", String(30), nullable=False),
    Column("model", String(30), nullable=False),
    Column("version", String(8), nullable=False),
    Column("size", Integer, nullable=False),
    Column("image", LargeBinary, nullable=False),
    Column("added_at", AWARE, nullable=False),
    UniqueConstraint("manufacturer", "model", "version"),
)

# Firmware updates (SRV 11.1) device by device: what each device was sent and what became of it.
# ``state``: pending (to distribute) | distributed (two-stage: waits for 11.3) | staged (one-stage:
# the DSP holds the image until 11.3) | activated | failed.
firmware_distributions = Table(
    "firmware_distributions",
    metadata,
    Column("request_id", REQUEST_ID, primary_key=True),  # the 11.1 request
    Column("device_id", EUI, primary_key=True),
    Column("user_id", EUI, nullable=False),
    Column("cohort", String(32), nullable=False),
    Column("model", String(30), nullable=False),
    Column("version", String(8), nullable=False),
    Column("image_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),
    Column("detail", String(256), nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", AWARE, nullable=True),
    Column("lease_until", AWARE, nullable=True),
    Column("updated_at", AWARE, nullable=False),
    Index("ix_firmware_distributions_state", "state", "next_attempt_at"),
    Index("ix_firmware_distributions_device_id", "device_id"),
    Index("ix_firmware_distributions_model", "model", "version"),
)


# --- h22: the Self Service Interface and service management (0009) ---

# Sign-in credentials the hub issues for the SSI (``opendcc ssi credential``): only a SHA-256 of
# each. ``principal`` is a DCC User's EUI-64, or the service desk's name; ``role`` user | desk.
ssi_credentials = Table(
    "ssi_credentials",
    metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("principal", String(64), nullable=False),
    Column("role", String(8), nullable=False),
    Column("created_at", AWARE, nullable=False),
    Column("revoked_at", AWARE, nullable=True),
    Index("ix_ssi_credentials_principal", "principal"),
)

# Signed-in sessions: the cookie carries a random token, the store only its SHA-256.
ssi_sessions = Table(
    "ssi_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("principal", String(64), nullable=False),
    Column("role", String(8), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", AWARE, nullable=False),
    Column("expires_at", AWARE, nullable=False),
)

# Incidents (the Incident Management Policy): one row each, its SLA clock's inputs with it.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", Integer, nullable=False),  # 1 (most severe) .. 5
    Column("major", Boolean, nullable=False, default=False),
    Column("status", String(12), nullable=False),  # open in_progress on_hold resolved closed
    Column("raised_by", String(64), nullable=False),  # a User's EUI-64, "desk" or "hub"
    Column("raised_at", AWARE, nullable=False),
    Column("owner", EUI, nullable=True),  # the DCC User whose incident it is (None: the DCC's)
    Column("assignee_kind", String(8), nullable=False),  # dcc | s1sp | user
    Column("assignee", String(64), nullable=False),  # "DCC", a cohort, a User's EUI-64
    Column("device_id", EUI, nullable=True),
    Column("signal", String(96), nullable=True),  # e.g. headend-down:<cohort>, for automatic ones
    Column("evidence", String(512), nullable=True),  # a link within the SSI
    Column("repeat_of", Integer, nullable=True),
    Column("responded_at", AWARE, nullable=True),
    Column("resolved_at", AWARE, nullable=True),
    Column("closed_at", AWARE, nullable=True),
    Column("paused_since", AWARE, nullable=True),
    Column("paused_seconds", Integer, nullable=False, default=0),
    Column("reopened", Integer, nullable=False, default=0),
    Index("ix_incidents_owner", "owner"),
    Index("ix_incidents_signal", "signal"),
    Index("ix_incidents_device_id", "device_id"),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    Column("at", AWARE, nullable=False),
    Column("by", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_incident_events_incident_id", "incident_id"),
)

incident_attachments = Table(
    "incident_attachments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("at", AWARE, nullable=False),
    Column("by", String(64), nullable=False),
    Index("ix_incident_attachments_incident_id", "incident_id"),
)

# Interested parties: Users who see an incident that is not theirs.
incident_parties = Table(
    "incident_parties",
    metadata,
    Column("incident_id", Integer, primary_key=True),
    Column("user_id", EUI, primary_key=True),
)

# Target response and resolution times per incident category (the IMP's, changeable by the desk).
incident_targets = Table(
    "incident_targets",
    metadata,
    Column("category", Integer, primary_key=True),
    Column("response_minutes", Integer, nullable=False),
    Column("resolution_minutes", Integer, nullable=False),
)

# Planned maintenance windows, scheduled in the SSI by the service desk.
maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("component", String(64), nullable=False),
    Column("starts_at", AWARE, nullable=False),
    Column("ends_at", AWARE, nullable=False),
    Column("description", String(512), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", AWARE, nullable=False),
    Column("cancelled_at", AWARE, nullable=True),
)

# Each period a component was seen down by the hub's health checks (open while ``up_at`` is None).
component_outages = Table(
    "component_outages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("component", String(64), nullable=False),
    Column("down_at", AWARE, nullable=False),
    Column("up_at", AWARE, nullable=True),
    Column("detail", String(256), nullable=False),
    Column("incident_id", Integer, nullable=True),
    Index("ix_component_outages_component", "component", "down_at"),
)


# --- h19b: durable alert intake and dead letters ---

# Every alert the hub takes from a head-end, committed (a group commit per batch) before the
# head-end is acknowledged or polled past it. ``source_id`` is the head-end's own id of the
# alert (AlertId, or the APDU push sequence): a redelivered alert is recognised by it and taken
# once. ``routed_at`` is set in the router's commit (alert record + outbox rows); a restart
# routes the rows still without it.
alert_intake = Table(
    "alert_intake",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cohort", String(32), nullable=False),
    Column("source_id", String(64), nullable=True),
    Column("device_id", EUI, nullable=False),
    Column("code", Integer, nullable=False),  # GBCS-style
    Column("raised_at", AWARE, nullable=False),
    Column("alert_values", Text, nullable=False),  # tagged JSON (alerts.intake_store)
    Column("received_at", AWARE, nullable=False),
    Column("routed_at", AWARE, nullable=True),
    UniqueConstraint("cohort", "source_id", name="uq_alert_intake_source"),
    Index("ix_alert_intake_routed_at", "routed_at", "id"),
)

# Outbox messages that could not be delivered: a permanent refusal (4xx such as 400/404/410)
# a few times, or any failure for as many attempts as the policy allows. Moved out of the
# outbox (the row and its key go), kept here until the service desk or the User redrives it
# (back into the outbox as a fresh message with the same key) — the SSI reads this table.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_key", String(96), nullable=False, unique=True),
    Column("user_id", EUI, nullable=False),
    Column("request_id", REQUEST_ID, nullable=True),
    Column("url", String(2048), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", AWARE, nullable=False),  # when the message was first queued
    Column("dead_at", AWARE, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(512), nullable=False),
    Column("permanent", Boolean, nullable=False),  # the endpoint refused it for good (4xx)
    Column("ordering_key", String(48), nullable=True),
    Column("alert_id", Integer, nullable=True),
    Column("bulk", Boolean, nullable=False, default=False),
    Index("ix_dead_letters_user_id", "user_id", "id"),
)


# --- h20: replay protection's seen-set ---
# Every originator counter accepted from a User inside the replay window (``store.requests``):
# the primary key makes a counter accepted twice impossible, even for two racing transactions.
# Counters at or below the User's newest minus the window are refused without looking here, so
# rows that far back are pruned.
accepted_counters = Table(
    "accepted_counters",
    metadata,
    Column("user_id", EUI, primary_key=True),
    Column("counter", U64, primary_key=True),
)


# --- h22c: cross-process liveness and the monitor's latest checks ---

# One row per running hub process (its host and pid): its roles, the components whose loops
# were alive at its last beat, and when that was. Written every few seconds by each process
# (service.liveness); the monitor judges a component up when a process saw it alive recently.
hub_processes = Table(
    "hub_processes",
    metadata,
    Column("host", String(128), primary_key=True),
    Column("pid", Integer, primary_key=True),
    Column("roles", String(128), nullable=False),  # comma-separated Role values
    Column("alive", String(256), nullable=False),  # comma-separated components alive
    Column("started_at", AWARE, nullable=False),
    Column("last_seen", AWARE, nullable=False),
)

# The service monitor's latest check of each component (one row each, replaced every look):
# what the SSI's status page and API show, from any gateway process.
component_checks = Table(
    "component_checks",
    metadata,
    Column("component", String(64), primary_key=True),
    Column("up", Boolean, nullable=False),
    Column("detail", String(256), nullable=False),
    Column("checked_at", AWARE, nullable=False),
)

# At most one open outage per component, whatever runs the monitor (a scheduler restarting over
# its predecessor would otherwise open a second).
Index(
    "uq_component_outages_open",
    component_outages.c.component,
    unique=True,
    sqlite_where=component_outages.c.up_at.is_(None),
    postgresql_where=component_outages.c.up_at.is_(None),
)

# --- h21c: SMETS1 device pre-notifications (DUIS 12.2) ---

# Who pre-notified each device (12.2 Device Pre-Notification) and when: the device itself is a
# Pending row of ``devices``; until it has a metering point, its pre-notifier is the User who
# may update or delete it (8.4 Update Inventory).
prenotifications = Table(
    "prenotifications",
    metadata,
    Column("device_id", EUI, primary_key=True),
    Column("user_id", EUI, nullable=False),
    Column("notified_at", AWARE, nullable=False),
)

# --- h20s: the scale-mode publisher's scan of due jobs (0015) ---
# Jobs never leased, in the order they are published (highest priority, then the oldest): a
# backlog's rows leased to the broker or a worker are not in it, so the scan skips them.
Index(
    "ix_jobs_unleased",
    jobs.c.priority.desc(),
    jobs.c.run_after,
    sqlite_where=(jobs.c.lease_until.is_(None)) & (jobs.c.waits_for.is_(None)),
    postgresql_where=(jobs.c.lease_until.is_(None)) & (jobs.c.waits_for.is_(None)),
)
# Leased jobs by the end of their lease: the sweep for leases that ran out (a dead consumer).
Index(
    "ix_jobs_lease_until",
    jobs.c.lease_until,
    sqlite_where=jobs.c.lease_until.is_not(None),
    postgresql_where=jobs.c.lease_until.is_not(None),
)
