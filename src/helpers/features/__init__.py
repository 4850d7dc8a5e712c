"""Feature builders: behaviour aggregates, event sequences, selection, text."""
