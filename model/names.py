"""Names of the state variables and counters of one core (docs/spec.md section 2), shared
by every tier and by the golden vectors."""

# Per-sample state cleared by reset(); eps and ebar exist in "full" trace mode only.
SAMPLE_STATE = ("v", "a", "ref", "z", "psi", "xbar", "zbar", "eps", "ebar", "zout", "y", "err",
                "acc", "acc_out")
WEIGHT_NAMES = ("w_in", "w_rec", "w_out", "b")
STATE_NAMES = SAMPLE_STATE + WEIGHT_NAMES
# Variables with a saturation counter sat_<name>.
SAT_NAMES = ("v", "a", "xbar", "zbar", "eps", "e", "ebar", "zout", "y", "err", "acc",
             "acc_out", "w", "w_out")
EVENT_COUNTERS = ("spikes", "row_updates", "weight_writes")
COUNTER_NAMES = EVENT_COUNTERS + tuple(f"sat_{n}" for n in SAT_NAMES)
