"""split: random test selection, then stratified group-aware folds; one fold is val."""
