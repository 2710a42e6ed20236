"""Storage encoding of records and envelopes (JSON-able dicts), shared by every store."""

import base64
from datetime import datetime
from typing import Any

from sigil_secrets.domain.model import Envelope, SecretRecord, VersionMeta


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def envelope_to_doc(envelope: Envelope) -> dict[str, str]:
    """An envelope as a document."""
    return {
        "kek": envelope.kek_id,
        "wk": _b64(envelope.wrapped_key),
        "kn": _b64(envelope.key_nonce),
        "n": _b64(envelope.nonce),
        "ct": _b64(envelope.ciphertext),
    }


def envelope_from_doc(doc: dict[str, str]) -> Envelope:
    """Inverse of :func:`envelope_to_doc`."""
    return Envelope(
        kek_id=doc["kek"],
        wrapped_key=base64.b64decode(doc["wk"]),
        key_nonce=base64.b64decode(doc["kn"]),
        nonce=base64.b64decode(doc["n"]),
        ciphertext=base64.b64decode(doc["ct"]),
    )


def record_to_doc(record: SecretRecord) -> dict[str, Any]:
    """A record as a document (metadata, history, current envelope)."""
    return {
        "id": record.id,
        "org": record.organization_id,
        "scope": record.customer_organization_id,
        "key": record.key,
        "version": record.version,
        "createdAt": record.created_at.isoformat(),
        "createdBy": record.created_by,
        "updatedAt": record.updated_at.isoformat(),
        "updatedBy": record.updated_by,
        "tooShort": record.too_short_to_mask,
        "envelope": envelope_to_doc(record.envelope),
        "versions": [
            {"v": v.version, "at": v.created_at.isoformat(), "by": v.created_by}
            for v in record.versions
        ],
        "deletedAt": record.deleted_at.isoformat() if record.deleted_at else None,
        "deletedBy": record.deleted_by,
    }


def record_from_doc(doc: dict[str, Any]) -> SecretRecord:
    """Inverse of :func:`record_to_doc`."""
    deleted = doc.get("deletedAt")
    return SecretRecord(
        id=doc["id"],
        organization_id=doc["org"],
        customer_organization_id=doc["scope"],
        key=doc["key"],
        version=doc["version"],
        created_at=datetime.fromisoformat(doc["createdAt"]),
        created_by=doc["createdBy"],
        updated_at=datetime.fromisoformat(doc["updatedAt"]),
        updated_by=doc["updatedBy"],
        too_short_to_mask=doc["tooShort"],
        envelope=envelope_from_doc(doc["envelope"]),
        versions=tuple(
            VersionMeta(v["v"], datetime.fromisoformat(v["at"]), v["by"]) for v in doc["versions"]
        ),
        deleted_at=datetime.fromisoformat(deleted) if deleted else None,
        deleted_by=doc.get("deletedBy"),
    )
