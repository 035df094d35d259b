"""eligo.golden: golden vector files (vectors/*.txt) installed as package data."""
