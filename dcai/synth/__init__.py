"""synth: the built-in Roman-numeral data set with planted problems and its ground truth (``truth.csv``)."""
