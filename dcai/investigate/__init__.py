"""The investigate stage."""
