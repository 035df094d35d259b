"""eligo: on-chip e-prop learning for a fixed-point LIF/ALIF neuron array."""

__version__ = "0.1.0"
