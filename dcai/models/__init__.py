"""Networks: :mod:`dcai.models.fixed` (the competition's fixed model) and its input pipeline."""
