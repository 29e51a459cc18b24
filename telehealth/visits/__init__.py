"""Domain: visit lifecycle, notes, orders, medication catalogue and the in-person policy."""
