"""The rules a submission's records are checked against, as pure functions.

Each message names its offending column, and its text is the same for every
record it applies to, so that the server can group them.
"""

import datetime
import json
from collections import defaultdict

REQUIRED = {
    "ANIMAL": ("breed", "sex", "birth_date"),
    "SAMPLE": ("animal", "collection_date", "tissue"),
}
DATES = {"ANIMAL": ("birth_date",), "SAMPLE": ("collection_date",)}
SEXES = ("female", "male")

MISSING = "Missing required attribute"
NOT_A_DATE = "Not an ISO-8601 date (YYYY-MM-DD)"
IN_THE_FUTURE = "Date is in the future"
UNKNOWN_SEX = f"Sex must be one of: {', '.join(SEXES)}"
UNKNOWN_ANIMAL = "No animal of this submission has this name"
DUPLICATE = "Same attributes as another record of this kind (a duplicate?)"


def _message(text: str, column: str | None = None) -> dict:
    return {"message": text, "offendingColumn": column}


def _present(value) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def parse_date(value) -> datetime.date | None:
    """The date an attribute holds in ISO-8601 (YYYY-MM-DD), or None."""
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def check_record(record: dict, *, animal_names: set[str], today: datetime.date) -> list[dict]:
    """The error messages of one record ({kind, name, attributes})."""
    kind, attributes = record["kind"], record["attributes"]
    messages = [_message(MISSING, column) for column in REQUIRED[kind] if not _present(attributes.get(column))]
    for column in DATES[kind]:
        if _present(attributes.get(column)):
            date = parse_date(attributes[column])
            if date is None:
                messages.append(_message(NOT_A_DATE, column))
            elif date > today:
                messages.append(_message(IN_THE_FUTURE, column))
    if kind == "ANIMAL" and _present(attributes.get("sex")) and str(attributes["sex"]).lower() not in SEXES:
        messages.append(_message(UNKNOWN_SEX, "sex"))
    if kind == "SAMPLE" and _present(attributes.get("animal")) and attributes["animal"] not in animal_names:
        messages.append(_message(UNKNOWN_ANIMAL, "animal"))
    return messages


def _duplicates(records: list[dict]) -> set[tuple[str, str]]:
    """(kind, name) of records whose attributes equal another's of the same kind."""
    by_content = defaultdict(list)
    for record in records:
        if record["attributes"]:
            by_content[(record["kind"], json.dumps(record["attributes"], sort_keys=True))].append(record["name"])
    return {(key[0], name) for key, names in by_content.items() if len(names) > 1 for name in names}


def validate(records: list[dict], *, today: datetime.date | None = None) -> list[dict]:
    """A result ({kind, name, outcome, messages}) for every record of one submission.

    ERROR when a rule is broken; WARNING for a likely duplicate; else PASS.
    """
    today = today or datetime.date.today()
    animal_names = {record["name"] for record in records if record["kind"] == "ANIMAL"}
    duplicates = _duplicates(records)
    results = []
    for record in records:
        errors = check_record(record, animal_names=animal_names, today=today)
        warnings = [_message(DUPLICATE)] if (record["kind"], record["name"]) in duplicates else []
        outcome = "ERROR" if errors else "WARNING" if warnings else "PASS"
        results.append(
            {"kind": record["kind"], "name": record["name"], "outcome": outcome, "messages": errors + warnings}
        )
    return results
