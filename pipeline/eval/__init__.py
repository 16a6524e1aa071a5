"""`spiral eval`: any model, any SPIRAL-format benchmark, circular scoring, honest difficulty tags."""
