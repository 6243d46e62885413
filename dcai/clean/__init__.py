"""The clean stage: dedup, investigate and vote evidence turned into relabel / remove / review actions."""
