"""eligo.synth: yosys/nextpnr FPGA synthesis flow."""
