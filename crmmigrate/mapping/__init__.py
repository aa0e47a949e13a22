"""Map: turn a legacy source's columns into the fields of one canonical entity."""
