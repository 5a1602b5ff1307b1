"""An archive stand-in: it accessions records, or refuses a submission the way a real archive might.

A real archive checks things of its own. This one refuses a sample
collected before its animal was born, which the local rules let through.
Accessions are derived from the submission and the record, so submitting
the same record again (a worker resuming) gives the same accession.
"""

import hashlib

from worker.validation import parse_date


class ArchiveRefused(Exception):
    """The archive refused the submission; the message says why, for the owner."""


def _accession(submission_id: str, record: dict) -> str:
    digest = hashlib.sha256(f"{submission_id}/{record['kind']}/{record['name']}".encode()).hexdigest()
    prefix = "SAMEA" if record["kind"] == "SAMPLE" else "SAMEA-ANI"
    return f"{prefix}{int(digest[:12], 16) % 10**9:09d}"


class Archive:
    def submit(self, submission_id: str, records: list[dict], *, animals: dict[str, dict]) -> dict[tuple, str]:
        """Accessions by (kind, name) of `records`; `animals` are the submission's animals' attributes by name."""
        for record in records:
            if record["kind"] != "SAMPLE":
                continue
            animal = animals.get(record["attributes"].get("animal"), {})
            born, collected = (
                parse_date(animal.get("birth_date")),
                parse_date(record["attributes"].get("collection_date")),
            )
            if born and collected and collected < born:
                raise ArchiveRefused(
                    f"The archive refused sample {record['name']}: collected before its animal was born"
                )
        return {(record["kind"], record["name"]): _accession(submission_id, record) for record in records}
