"""Domain: prescriber availability, free slots and booking."""
