"""Checks of eligo.config: every field's validation, the relations, the int64 headroom check,
file round trips, presets and the helpers around them."""

import dataclasses
import json
import re
import tomllib

import pytest

import eligo.config as config_mod
from eligo.config import FIELD_GROUPS, INT64_HEADROOM_BITS, PRESETS, Config, load, preset


def exact(message):
    """An anchored regex matching exactly ``message``."""
    return "^" + re.escape(message) + "$"


# -- the field table, written out ----------------------------------------------------------
# A field added, removed, renamed, regrouped or re-bounded in eligo/config.py fails
# test_field_names / test_field_table until this table is updated with it.

RESET = ("subtract", "zero")
ROUNDING = ("zero", "floor", "stochastic")
TRACE = ("full", "factored")
FEEDBACK = ("symmetric", "random")

EXPECTED_FIELDS = [
    ("n_in", "network", "int", 1, 4096),
    ("n_rec", "network", "int", 1, 4096),
    ("n_out", "network", "int", 1, 256),
    ("n_alif", "network", "int", 0, "n_rec"),
    ("w_bits", "formats", "int", 2, 16),
    ("w_frac", "formats", "int", 0, 16),
    ("v_bits", "formats", "int", 4, 32),
    ("v_frac", "formats", "int", 0, 30),
    ("a_bits", "formats", "int", 2, 32),
    ("a_frac", "formats", "int", 0, 30),
    ("trace_bits", "formats", "int", 2, 24),
    ("trace_frac", "formats", "int", 0, 23),
    ("psi_bits", "formats", "int", 1, 16),
    ("e_bits", "formats", "int", 2, 24),
    ("e_frac", "formats", "int", 0, 40),
    ("eps_bits", "formats", "int", 2, 32),
    ("y_bits", "formats", "int", 4, 32),
    ("y_frac", "formats", "int", 0, 30),
    ("err_bits", "formats", "int", 2, 32),
    ("acc_bits", "formats", "int", 2, 32),
    ("acc_frac", "formats", "int", 0, 40),
    ("decay_bits", "formats", "int", 1, 24),
    ("counter_bits", "formats", "int", 8, 32),
    ("reset", "conventions", RESET, None, None),
    ("rounding", "conventions", ROUNDING, None, None),
    ("update_rounding", "conventions", ROUNDING, None, None),
    ("trace_mode", "conventions", TRACE, None, None),
    ("feedback", "conventions", FEEDBACK, None, None),
    ("accumulate_error", "conventions", "bool", None, None),
    ("refractory", "conventions", "int", 0, 255),
    ("q_max", "conventions", "int", 1, 7),
    ("alpha", "runtime", "int", 0, "decay_max"),
    ("rho", "runtime", "int", 0, "decay_max"),
    ("kappa", "runtime", "int", 0, "decay_max"),
    ("theta", "runtime", "int", 1, "v_max"),
    ("beta", "runtime", "int", 0, "v_max"),
    ("gamma", "runtime", "int", 0, "psi_max"),
    ("eta", "runtime", "int", 0, 65535),
    ("lr_shift", "runtime", "int", 0, 48),
    ("eta_out", "runtime", "int", 0, 65535),
    ("lr_out_shift", "runtime", "int", 0, 48),
    ("trigger", "runtime", "int", 1, "acc_max"),
    ("trigger_out", "runtime", "int", 1, "acc_max"),
    ("homeo_gain", "runtime", "int", 0, 65535),
    ("homeo_target", "runtime", "int", 0, "trace_max"),
    ("learn", "runtime", "bool", None, None),
    ("seed", "runtime", "int", 0, 2**32 - 1),
]
FIELD_NAMES = [name for name, *_ in EXPECTED_FIELDS]
FIELD_SPEC = {name: rest for name, *rest in EXPECTED_FIELDS}
INT_FIELDS = [n for n, (_g, kind, *_b) in FIELD_SPEC.items() if kind == "int"]
BOOL_FIELDS = [n for n, (_g, kind, *_b) in FIELD_SPEC.items() if kind == "bool"]
STR_FIELDS = [n for n, (_g, kind, *_b) in FIELD_SPEC.items() if isinstance(kind, tuple)]

# Bounds that depend on other fields: the value for a built config, and how messages name it.
DEPENDENT = {
    "n_rec": (lambda c: c.n_rec, "n_rec"),
    "decay_max": (lambda c: 2**c.decay_bits - 1, "2**decay_bits - 1"),
    "v_max": (lambda c: 2**(c.v_bits - 1) - 1, "2**(v_bits - 1) - 1"),
    "psi_max": (lambda c: 2**c.psi_bits - 1, "2**psi_bits - 1"),
    "acc_max": (lambda c: 2**(c.acc_bits - 1) - 1, "2**(acc_bits - 1) - 1"),
    "trace_max": (lambda c: 2**c.trace_bits - 1, "2**trace_bits - 1"),
}

# Other fields changed so that both bounds of the field are accepted (a width at its lowest
# must leave room for its fractions and the values stored in it, and so on).
CONTEXT = {
    "n_rec": {"n_alif": 0},
    "w_frac": {"v_bits": 18, "v_frac": 16, "y_bits": 17, "y_frac": 16},
    "v_bits": {"theta": 4, "beta": 1, "v_frac": 2, "w_frac": 2},
    "v_frac": {"v_bits": 32, "w_frac": 0},
    "a_bits": {"a_frac": 1},
    "a_frac": {"a_bits": 32},
    "trace_bits": {"trace_frac": 1},
    "trace_frac": {"trace_bits": 24},
    "psi_bits": {"gamma": 1},
    "y_bits": {"y_frac": 3, "w_frac": 3},
    "y_frac": {"y_bits": 32, "w_frac": 0},
    "acc_bits": {"trigger": 1, "trigger_out": 1},
    "decay_bits": {"alpha": 1, "rho": 1, "kappa": 1},
}

# Fields with a bound that depends on another field get a second context in which that other
# field differs from its default, so the bound is seen to follow it.
DEPENDENT_CONTEXT = {
    "n_alif": {"n_rec": 10, "n_alif": 0},
    "alpha": {"decay_bits": 8, "alpha": 200, "rho": 250, "kappa": 200},
    "rho": {"decay_bits": 8, "alpha": 200, "rho": 250, "kappa": 200},
    "kappa": {"decay_bits": 8, "alpha": 200, "rho": 250, "kappa": 200},
    "theta": {"v_bits": 14, "v_frac": 10, "theta": 1024, "beta": 256},
    "beta": {"v_bits": 14, "v_frac": 10, "theta": 1024, "beta": 256},
    "gamma": {"psi_bits": 6, "gamma": 20},
    "trigger": {"acc_bits": 13, "trigger": 1000, "trigger_out": 1000},
    "trigger_out": {"acc_bits": 13, "trigger": 1000, "trigger_out": 1000},
    "homeo_target": {"trace_bits": 9, "trace_frac": 5, "homeo_target": 300},
}

INT_CASES = [pytest.param(n, CONTEXT.get(n, {}), id=n) for n in INT_FIELDS] + [
    pytest.param(n, ctx, id=f"{n}-dependent") for n, ctx in DEPENDENT_CONTEXT.items()]


def bounds(name, cfg):
    """(low, high, note) of an int field for the configuration ``cfg``."""
    _group, _kind, low, high = FIELD_SPEC[name]
    note = ""
    if isinstance(high, str):
        fn, text = DEPENDENT[high]
        high, note = fn(cfg), f" (upper bound {text})"
    return low, high, note


def range_message(name, cfg, value):
    low, high, note = bounds(name, cfg)
    return f"{name} must be an integer in [{low}, {high}]{note}, not {value!r}"


# -- the field table -----------------------------------------------------------------------

def test_field_names():
    assert [f.name for f in dataclasses.fields(Config)] == FIELD_NAMES
    assert [name for name, *_ in config_mod._FIELDS] == FIELD_NAMES


def test_field_table():
    assert config_mod._FIELDS == EXPECTED_FIELDS
    assert FIELD_GROUPS == {name: spec[0] for name, spec in FIELD_SPEC.items()}
    assert list(Config().to_dict()) == ["network", "formats", "conventions", "runtime"]


def test_dependent_bounds_named():
    assert {h for *_, h in EXPECTED_FIELDS if isinstance(h, str)} == set(DEPENDENT)
    assert set(DEPENDENT_CONTEXT) == {n for n, *_, h in EXPECTED_FIELDS if isinstance(h, str)}


def test_defaults_valid():
    cfg = Config()
    for name in FIELD_NAMES:
        value = getattr(cfg, name)
        _group, kind, *_b = FIELD_SPEC[name]
        if kind == "int":
            low, high, _note = bounds(name, cfg)
            assert type(value) is int and low <= value <= high, name
        elif kind == "bool":
            assert type(value) is bool, name
        else:
            assert value in kind, name


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().n_in = 5


# -- int fields ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,ctx", INT_CASES)
def test_int_bounds_accepted(name, ctx):
    base = Config(**ctx)
    low, high, _note = bounds(name, base)
    assert getattr(base.replace(**{name: low}), name) == low
    assert getattr(base.replace(**{name: high}), name) == high
    assert getattr(Config(**{**ctx, name: high}), name) == high


@pytest.mark.parametrize("name,ctx", INT_CASES)
def test_int_below_low_refused(name, ctx):
    base = Config(**ctx)
    low, _high, _note = bounds(name, base)
    with pytest.raises(ValueError, match=exact(range_message(name, base, low - 1))):
        base.replace(**{name: low - 1})


@pytest.mark.parametrize("name,ctx", INT_CASES)
def test_int_above_high_refused(name, ctx):
    base = Config(**ctx)
    _low, high, _note = bounds(name, base)
    with pytest.raises(ValueError, match=exact(range_message(name, base, high + 1))):
        Config(**{**ctx, name: high + 1})


def test_dependent_bound_examples():
    # The bound is computed for the configuration at hand and named in the message.
    with pytest.raises(ValueError, match=r"^n_alif must be an integer in \[0, 10\] "
                                         r"\(upper bound n_rec\), not 11$"):
        Config(n_rec=10, n_alif=11)
    with pytest.raises(ValueError, match=r"^alpha must be an integer in \[0, 255\] "
                                         r"\(upper bound 2\*\*decay_bits - 1\), not 256$"):
        Config(decay_bits=8, alpha=256, rho=1, kappa=1)
    with pytest.raises(ValueError, match=r"^theta must be an integer in \[1, 8191\] "
                                         r"\(upper bound 2\*\*\(v_bits - 1\) - 1\), not 8192$"):
        Config(v_bits=14, v_frac=10, theta=8192, beta=1)
    with pytest.raises(ValueError, match=r"^gamma must be an integer in \[0, 63\] "
                                         r"\(upper bound 2\*\*psi_bits - 1\), not 64$"):
        Config(psi_bits=6, gamma=64)
    with pytest.raises(ValueError, match=r"^trigger_out must be an integer in \[1, 4095\] "
                                         r"\(upper bound 2\*\*\(acc_bits - 1\) - 1\), "
                                         r"not 4096$"):
        Config(acc_bits=13, trigger=1, trigger_out=4096)


BOUND_SOURCES = ("v_bits", "psi_bits", "acc_bits", "decay_bits")
WRONG_INT_VALUES = [(1.5, "float"), (8.0, "integral-float"), ("8", "str"), (None, "None"),
                    (True, "True"), (False, "False")]
INT_TYPE_CASES = [
    pytest.param(name, value, id=f"{name}-{vid}")
    for name in INT_FIELDS for value, vid in WRONG_INT_VALUES]


@pytest.mark.parametrize("name,value", INT_TYPE_CASES)
def test_int_wrong_type_refused(name, value):
    with pytest.raises(TypeError, match=exact(f"{name} must be an integer, not {value!r}")):
        Config(**{name: value})


# -- bool and string fields ----------------------------------------------------------------

@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("name", BOOL_FIELDS)
def test_bool_accepted(name, value):
    assert getattr(Config(**{name: value}), name) is value


@pytest.mark.parametrize("value", [1, 0, "true", None, 1.0],
                         ids=["1", "0", "str", "None", "float"])
@pytest.mark.parametrize("name", BOOL_FIELDS)
def test_bool_wrong_type_refused(name, value):
    with pytest.raises(TypeError, match=exact(f"{name} must be a bool, not {value!r}")):
        Config(**{name: value})


@pytest.mark.parametrize("name,value", [(n, v) for n in STR_FIELDS for v in FIELD_SPEC[n][1]])
def test_str_allowed_accepted(name, value):
    assert getattr(Config(**{name: value}), name) == value


@pytest.mark.parametrize("value", ["nope", "", "ZERO", " full"])
@pytest.mark.parametrize("name", STR_FIELDS)
def test_str_outside_set_refused(name, value):
    allowed = ", ".join(map(repr, FIELD_SPEC[name][1]))
    with pytest.raises(ValueError, match=exact(f"{name} must be one of {allowed}, not {value!r}")):
        Config(**{name: value})


@pytest.mark.parametrize("name", STR_FIELDS)
def test_str_non_string_refused(name):
    # A non-string is refused naming the field and value (today a ValueError; a TypeError
    # would match the docstring better, so either is allowed here).
    with pytest.raises((TypeError, ValueError), match=rf"^{name} must be .*, not 1$"):
        Config(**{name: 1})


# -- relations -----------------------------------------------------------------------------

RELATIONS = [
    ({"w_frac": 13},
     "w_frac must be at most v_frac (12) so that inputs scale up exactly, not 13"),
    ({"w_frac": 13, "v_frac": 14},
     "w_frac must be at most y_frac (12) so that readout inputs scale up exactly, not 13"),
    ({"v_frac": 15},
     "v_frac must be at most v_bits - 2 (14) so that one membrane unit fits, not 15"),
    ({"v_bits": 10, "v_frac": 9, "theta": 100, "beta": 10},
     "v_frac must be at most v_bits - 2 (8) so that one membrane unit fits, not 9"),
    ({"trace_frac": 12},
     "trace_frac must be at most trace_bits - 1 (11) so that one spike fits, not 12"),
    ({"a_frac": 16},
     "a_frac must be at most a_bits - 1 (15) so that one spike fits, not 16"),
    ({"y_frac": 16}, "y_frac must be at most y_bits - 1 (15), not 16"),
]

RELATIONS_OK = [
    {"w_frac": 12},
    {"w_frac": 12, "v_frac": 14},
    {"v_frac": 14},
    {"trace_frac": 11},
    {"a_frac": 15},
    {"y_frac": 15},
    {"n_in": 4096, "n_rec": 4096},
]


@pytest.mark.parametrize("changes,message", RELATIONS, ids=[m.split()[0] + str(i)
                                                           for i, (_c, m) in
                                                           enumerate(RELATIONS)])
def test_relation_refused(changes, message):
    with pytest.raises(ValueError, match=exact(message)):
        Config(**changes)


@pytest.mark.parametrize("changes", RELATIONS_OK, ids=lambda c: ",".join(c))
def test_relation_boundary_accepted(changes):
    cfg = Config(**changes)
    for name, value in changes.items():
        assert getattr(cfg, name) == value


# -- int64 headroom ------------------------------------------------------------------------

def headroom_message(name, bits):
    return (f"the {name} of this configuration needs {bits} bits; at most 62 are supported: "
            f"reduce the widths it depends on")


HEADROOM = [
    ({"eps_bits": 32, "psi_bits": 16, "beta": 28672, "gamma": 1}, "eps_a sum", 63),
    ({"eps_bits": 32, "psi_bits": 16, "v_bits": 32, "beta": 2**31 - 1, "gamma": 1},
     "eps_a sum", 79),
    ({"v_bits": 32, "a_bits": 32, "beta": 2**31 - 1}, "threshold A*2**a_frac", 64),
    ({"v_bits": 32, "v_frac": 30, "a_bits": 32, "a_frac": 30}, "pseudo-derivative gamma*h", 67),
    ({"v_bits": 32, "v_frac": 30, "a_bits": 32, "a_frac": 30, "psi_bits": 16, "gamma": 65535},
     "pseudo-derivative gamma*h", 76),
]


def test_headroom_constant():
    assert INT64_HEADROOM_BITS == 62


@pytest.mark.parametrize("changes,name,bits", HEADROOM, ids=[f"{n}-{b}" for _c, n, b in HEADROOM])
def test_headroom_refused(changes, name, bits):
    with pytest.raises(ValueError, match=exact(headroom_message(name, bits))):
        Config(**changes)


@pytest.mark.parametrize("changes,name", [
    ({"eps_bits": 32, "psi_bits": 16, "beta": 28671, "gamma": 1}, "eps_a sum"),
    ({"v_bits": 32, "v_frac": 30, "a_bits": 32, "a_frac": 30, "psi_bits": 16, "gamma": 1},
     "threshold A*2**a_frac"),
], ids=["eps_a", "threshold"])
def test_headroom_boundary_accepted(changes, name):
    bits = Config(**changes).intermediate_bits()
    assert bits[name] == 62
    assert max(bits.values()) == 62


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_intermediates_fit(name):
    bits = preset(name).intermediate_bits()
    assert bits and all(type(b) is int and 1 <= b <= 62 for b in bits.values()), bits


# -- files and dicts -----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize("name", list(PRESETS))
def test_file_round_trip(tmp_path, name, suffix):
    cfg = preset(name)
    path = tmp_path / f"{name}{suffix}"
    cfg.save(path)
    back = Config.load(path)
    assert back == cfg
    assert dataclasses.asdict(back) == dataclasses.asdict(cfg)
    assert all(type(getattr(back, f)) is type(getattr(cfg, f)) for f in FIELD_NAMES)
    assert load(path) == cfg
    assert load(str(path)) == cfg
    parsed = tomllib.loads(path.read_text()) if suffix == ".toml" else json.loads(path.read_text())
    assert parsed == cfg.to_dict()


@pytest.mark.parametrize("name", list(PRESETS))
def test_text_round_trip(name):
    cfg = preset(name)
    assert Config.parse(cfg.to_toml(), "toml") == cfg
    assert Config.parse(cfg.to_json(), "json") == cfg
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_to_dict_groups():
    groups = Config().to_dict()
    for group, fields in groups.items():
        for name, value in fields.items():
            assert FIELD_SPEC[name][0] == group
            assert value == getattr(Config(), name)
    assert sorted(n for f in groups.values() for n in f) == sorted(FIELD_NAMES)


def test_from_dict_flat():
    cfg = preset("cue")
    assert Config.from_dict(dataclasses.asdict(cfg)) == cfg
    assert Config.from_dict({}) == Config()
    assert Config.from_dict({"n_rec": 10, "network": {"n_in": 7}}) == Config(n_in=7, n_rec=10)
    assert Config.from_dict({"runtime": {"seed": 9}}) == Config(seed=9)


def test_from_dict_not_a_table():
    with pytest.raises(TypeError, match=exact("configuration must be a table of fields, not [1]")):
        Config.from_dict([1])
    with pytest.raises(TypeError, match=exact("x.json must be a table of fields, not 3")):
        Config.parse("3", "json", source="x.json")


def test_from_dict_unknown_top_level():
    with pytest.raises(ValueError, match=exact("configuration: unknown field 'nope'")):
        Config.from_dict({"nope": 1})
    with pytest.raises(ValueError, match=exact("here: unknown field 'Network'")):
        Config.from_dict({"Network": {"n_in": 4}}, source="here")


def test_from_dict_group_not_a_table():
    with pytest.raises(ValueError, match=exact(
            "configuration: [network] must be a table of fields, not 5")):
        Config.from_dict({"network": 5})


def test_from_dict_field_given_twice():
    with pytest.raises(ValueError, match=exact("configuration: field 'n_in' is given twice")):
        Config.from_dict({"n_in": 4, "network": {"n_in": 5}})


def test_from_dict_unknown_in_group():
    with pytest.raises(ValueError, match=exact("configuration: unknown field 'nope' in [network]")):
        Config.from_dict({"network": {"n_in": 4, "nope": 1}})


@pytest.mark.parametrize("name", FIELD_NAMES)
def test_from_dict_wrong_group(name):
    group = FIELD_SPEC[name][0]
    wrong = "runtime" if group == "network" else "network"
    value = getattr(Config(), name)
    with pytest.raises(ValueError, match=exact(
            f"configuration: field {name!r} belongs in [{group}], not in [{wrong}]")):
        Config.from_dict({wrong: {name: value}})


def test_file_unknown_field_names_source(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[formats]\nn_in = 4\n")
    with pytest.raises(ValueError, match=exact(
            f"{path}: field 'n_in' belongs in [network], not in [formats]")):
        Config.load(path)
    path = tmp_path / "c.json"
    path.write_text('{"bogus": 1}')
    with pytest.raises(ValueError, match=exact(f"{path}: unknown field 'bogus'")):
        Config.load(path)


@pytest.mark.parametrize("fmt,text", [
    ("toml", "n_in = "), ("toml", "[network\nn_in = 4\n"), ("toml", "n_in = 4\nn_in = 5\n"),
    ("json", "{"), ("json", ""), ("json", '{"n_in": 4,}'),
])
def test_malformed_text_refused(fmt, text):
    with pytest.raises(ValueError, match=rf"^configuration is not valid {fmt.upper()}: .+$"):
        Config.parse(text, fmt)
    with pytest.raises(ValueError, match=rf"^my\.{fmt} is not valid {fmt.upper()}: .+$"):
        Config.parse(text, fmt, source=f"my.{fmt}")


@pytest.mark.parametrize("suffix,text", [(".toml", "[network]\nn_in = \n"), (".json", "{]")])
def test_malformed_file_refused(tmp_path, suffix, text):
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    fmt = suffix[1:].upper()
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} is not valid {fmt}: .+$"):
        Config.load(path)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} is not valid {fmt}: .+$"):
        load(path)


@pytest.mark.parametrize("filename", ["c.yaml", "c", "c.TOML", "c.toml.bak", "c.txt"])
def test_wrong_suffix_refused(tmp_path, filename):
    path = tmp_path / filename
    message = exact(f"configuration file must end in .toml or .json, not {str(path)!r}")
    with pytest.raises(ValueError, match=message):
        Config().save(path)
    assert not path.exists()
    path.write_text(Config().to_toml())
    with pytest.raises(ValueError, match=message):
        Config.load(path)
    with pytest.raises(ValueError, match=message):
        load(path)


@pytest.mark.parametrize("suffix,text,error,message", [
    (".toml", "[network]\nn_in = 0\n", ValueError, "n_in must be an integer in [1, 4096], not 0"),
    (".toml", "[network]\nn_rec = 10\nn_alif = 11\n", ValueError,
     "n_alif must be an integer in [0, 10] (upper bound n_rec), not 11"),
    (".toml", "[formats]\nw_bits = 8.0\n", TypeError, "w_bits must be an integer, not 8.0"),
    (".toml", '[conventions]\nreset = "nope"\n', ValueError,
     "reset must be one of 'subtract', 'zero', not 'nope'"),
    (".toml", "[runtime]\nlearn = 1\n", TypeError, "learn must be a bool, not 1"),
    (".json", '{"runtime": {"seed": 4294967296}}', ValueError,
     "seed must be an integer in [0, 4294967295], not 4294967296"),
    (".json", '{"formats": {"v_bits": "16"}}', TypeError, "v_bits must be an integer, not '16'"),
    (".json", '{"formats": {"w_bits": "8"}}', TypeError, "w_bits must be an integer, not '8'"),
    (".json", '{"conventions": {"accumulate_error": "yes"}}', TypeError,
     "accumulate_error must be a bool, not 'yes'"),
    (".json", '{"n_in": 1.5}', TypeError, "n_in must be an integer, not 1.5"),
    (".json", '{"w_frac": 13}', ValueError,
     "w_frac must be at most v_frac (12) so that inputs scale up exactly, not 13"),
], ids=lambda x: None)
def test_bad_value_in_file_refused(tmp_path, suffix, text, error, message):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    with pytest.raises(error, match=exact(f"{path}: {message}")):
        Config.load(path)


# -- presets, replace, load ----------------------------------------------------------------

def test_preset_names():
    assert list(PRESETS) == ["tiny", "cue", "ice40", "reckon"]


def test_preset_unknown_refused():
    with pytest.raises(ValueError, match=exact(
            "preset must be one of 'tiny', 'cue', 'ice40', 'reckon', not 'nope'")):
        preset("nope")
    with pytest.raises(ValueError, match=exact(
            "preset must be one of 'tiny', 'cue', 'ice40', 'reckon', not 'nope'")):
        preset("nope", n_rec=10)


def test_preset_cue():
    cfg = preset("cue")
    assert (cfg.n_in, cfg.n_rec, cfg.n_alif, cfg.n_out) == (40, 100, 50, 2)
    assert cfg.n_lif == 50
    assert cfg.decay_bits == 16


def test_preset_reckon():
    cfg = preset("reckon")
    assert (cfg.n_in, cfg.n_rec, cfg.n_out) == (256, 256, 16)
    assert cfg.n_alif == 0


def test_preset_tiny_and_ice40():
    assert preset("tiny") == Config()
    cfg = preset("ice40")
    assert (cfg.n_in, cfg.n_rec, cfg.n_alif, cfg.n_out) == (16, 32, 0, 2)
    assert (cfg.trace_mode, cfg.rounding, cfg.update_rounding, cfg.counter_bits) == (
        "factored", "zero", "zero", 8)


def test_preset_with_changes():
    cfg = preset("cue", n_rec=60)
    assert cfg == preset("cue").replace(n_rec=60)
    assert (cfg.n_rec, cfg.n_alif, cfg.n_in) == (60, 50, 40)
    assert preset("cue", n_rec=10, n_alif=5).n_rec == 10
    assert preset("cue") == PRESETS["cue"]()  # a fresh copy, unchanged by the calls above


def test_preset_with_changes_validated():
    # cue keeps 50 ALIF neurons: n_rec=10 alone leaves n_alif above its bound.
    with pytest.raises(ValueError, match=exact(
            "n_alif must be an integer in [0, 10] (upper bound n_rec), not 50")):
        preset("cue", n_rec=10)
    with pytest.raises(ValueError, match=exact(
            "n_alif must be an integer in [0, 100] (upper bound n_rec), not 200")):
        preset("cue", n_alif=200)
    with pytest.raises(TypeError, match=exact("n_rec must be an integer, not 10.0")):
        preset("cue", n_rec=10.0)


def test_replace():
    cfg = Config()
    new = cfg.replace(n_in=7, reset="zero")
    assert (new.n_in, new.reset) == (7, "zero")
    assert cfg == Config()
    assert cfg.replace() == cfg
    with pytest.raises(ValueError, match=exact("w_bits must be an integer in [2, 16], not 17")):
        cfg.replace(w_bits=17)


def test_replace_unknown_refused():
    known = ", ".join(FIELD_NAMES)
    with pytest.raises(ValueError, match=exact(
            f"unknown configuration field 'nope'; known fields: {known}")):
        Config().replace(nope=1)
    # the first unknown name in sorted order is named
    with pytest.raises(ValueError, match=exact(
            f"unknown configuration field 'a_nope'; known fields: {known}")):
        Config().replace(z_nope=1, a_nope=2, n_in=5)
    with pytest.raises(ValueError, match=exact(
            f"unknown configuration field 'n_pre'; known fields: {known}")):
        preset("cue", n_pre=10)


@pytest.mark.parametrize("name", list(PRESETS))
def test_load_preset_name(name):
    assert load(name) == preset(name)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.toml")


def test_string_field_wrong_type_refused():
    with pytest.raises(TypeError, match=exact("reset must be a string, not 1")):
        Config(reset=1)


def test_parse_unknown_format_refused():
    with pytest.raises(ValueError, match=exact("format must be 'toml' or 'json', not 'yaml'")):
        Config.parse("n_in: 4", "yaml")


def test_shift_out_of_range_refused():
    # e_shift = psi_bits + trace_frac + v_frac - e_frac = 16 + 23 + 30 - 0 = 69
    with pytest.raises(ValueError, match=exact(
            "the e_shift of this configuration is 69; shifts must lie in [-62, 62]: "
            "adjust the fraction bits it depends on")):
        Config(psi_bits=16, trace_bits=24, trace_frac=23, v_bits=32, v_frac=30, e_frac=0,
               w_frac=6, y_frac=12, gamma=1, theta=1, beta=0)


def test_negative_shift_counts_as_left_shift_in_headroom():
    # acc_frac above w_frac + y_frac makes the learning signal a left shift.
    cfg = Config(acc_bits=32, acc_frac=30, w_frac=0, y_frac=0)
    assert cfg.l_shift == -30
    assert cfg.intermediate_bits()["learning signal sum B*err + homeostatic term"] == \
        (2 * 2**7 * 2**15).bit_length() + 30
    with pytest.raises(ValueError, match=exact(
            "the learning signal sum B*err + homeostatic term of this configuration needs 64 "
            "bits; at most 62 are supported: reduce the widths it depends on")):
        Config(acc_bits=32, acc_frac=40, w_frac=0, y_frac=0)
