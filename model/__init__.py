"""eligo.model: bit-exact numpy golden model and float PyTorch reference."""
