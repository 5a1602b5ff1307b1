"""The reference worker's rules: required attributes per kind, ISO dates, references to animals, duplicates."""

import datetime

from worker.validation import validate

TODAY = datetime.date(2026, 6, 1)


def animal(name, **attributes):
    return {
        "kind": "ANIMAL",
        "name": name,
        "attributes": {"breed": "Texel", "sex": "female", "birth_date": "2024-03-01", **attributes},
    }


def sample(name, **attributes):
    return {
        "kind": "SAMPLE",
        "name": name,
        "attributes": {"animal": "ewe-1", "collection_date": "2025-06-01", "tissue": "blood", **attributes},
    }


def messages(records) -> dict:
    return {
        r["name"]: (r["outcome"], [(m["message"], m["offendingColumn"]) for m in r["messages"]])
        for r in validate(records, today=TODAY)
    }


def test_complete_records_pass():
    assert messages([animal("ewe-1"), sample("wool-1")]) == {"ewe-1": ("PASS", []), "wool-1": ("PASS", [])}


def test_each_missing_required_attribute_is_an_error_naming_its_column():
    found = messages([animal("ewe-1", breed="", sex=None), sample("wool-1", tissue="  ")])

    assert found["ewe-1"] == ("ERROR", [("Missing required attribute", "breed"), ("Missing required attribute", "sex")])
    assert found["wool-1"] == ("ERROR", [("Missing required attribute", "tissue")])


def test_dates_must_be_iso_8601_and_not_in_the_future():
    found = messages(
        [
            animal("ewe-1", birth_date="01/03/2024"),
            animal("ewe-2", birth_date="2024-02-30"),
            animal("ewe-3", birth_date="2027-01-01"),
        ]
    )

    assert found["ewe-1"] == ("ERROR", [("Not an ISO-8601 date (YYYY-MM-DD)", "birth_date")])
    assert found["ewe-2"] == ("ERROR", [("Not an ISO-8601 date (YYYY-MM-DD)", "birth_date")])
    assert found["ewe-3"] == ("ERROR", [("Date is in the future", "birth_date")])


def test_a_sample_must_name_an_animal_of_the_same_submission():
    found = messages([animal("ewe-1"), sample("wool-1", animal="ewe-9")])

    assert found["wool-1"] == ("ERROR", [("No animal of this submission has this name", "animal")])


def test_sex_must_be_male_or_female():
    assert messages([animal("ewe-1", sex="ewe")])["ewe-1"] == ("ERROR", [("Sex must be one of: female, male", "sex")])


def test_records_of_one_kind_with_the_same_attributes_are_a_warning():
    found = messages([animal("ewe-1"), animal("ewe-2"), animal("ewe-3", birth_date="2024-03-02")])

    warning = ("WARNING", [("Same attributes as another record of this kind (a duplicate?)", None)])
    assert (found["ewe-1"], found["ewe-2"], found["ewe-3"]) == (warning, warning, ("PASS", []))
