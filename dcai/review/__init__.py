"""The review stage: a queue of doubtful images out as Parquet/CSV, a person's decisions back in."""
