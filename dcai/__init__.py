"""dcai: make an image-classification dataset better instead of the model."""

__version__ = "0.1.0"
