"""eligo.tb: testbenches and tests (run with pytest)."""
