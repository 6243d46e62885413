"""The vote stage."""
