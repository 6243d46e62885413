"""The run's decoded images as a uint8 tensor dataset (Parquet), and the fold-model predictor over it."""
