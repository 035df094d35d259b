"""eligo.rtl: Amaranth RTL of the neuron array and weight-update unit."""
