"""shape: balance (equal classes under the budget, the rest to surplus) and split (test + group-aware folds)."""
