"""The paper's conditional GAN: networks and losses (:mod:`dcai.gan.nets`)."""
