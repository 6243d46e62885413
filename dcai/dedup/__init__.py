"""dedup: exact (bytes, pixels) and near (MinHash LSH, perceptual hash) duplicates, groups, leakage."""
