"""`spiral eval`: any model on any SPIRAL-format benchmark, circular scoring, difficulty tags."""
