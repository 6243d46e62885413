"""Networks the stages train, e.g. :mod:`dcai.models.fixed`, the competition's fixed model, and its inputs."""
