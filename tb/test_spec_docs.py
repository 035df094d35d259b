"""docs/spec.md carries generated tables: they must equal what the code renders now."""

from eligo import spec_tables


def test_spec_generated_sections_match_the_code():
    text = spec_tables.SPEC_PATH.read_text()
    assert spec_tables.render(text) == text, \
        "docs/spec.md is stale: run `python -m eligo.spec_tables`"


def test_worked_example_shows_a_trigger_and_a_spike():
    _, rec = spec_tables.example_trace()
    assert rec["z"].sum() > 0
    assert rec["row_updates"][-1].sum() > 0
