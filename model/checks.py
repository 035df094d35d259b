"""Setting checks shared by the training tiers, kept free of torch so that ``eligo train``
refuses a bad setting before it imports the float tiers."""

__all__ = ["check_rate_reg"]


def check_rate_reg(rate_reg, rate_target):
    """Refuse a negative or infinite ``rate_reg`` and a ``rate_target`` outside [0, 1]
    (spikes per step), with a ValueError naming the setting."""
    if isinstance(rate_reg, bool) or not isinstance(rate_reg, (int, float)) \
            or not 0 <= rate_reg < float("inf"):
        raise ValueError(f"rate_reg must be a non-negative finite number, not {rate_reg!r}")
    if isinstance(rate_target, bool) or not isinstance(rate_target, (int, float)) \
            or not 0 <= rate_target <= 1:
        raise ValueError(f"rate_target must be in [0, 1] (spikes per step), "
                         f"not {rate_target!r}")
