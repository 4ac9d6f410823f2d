"""StyleGAN2: the generator, and converters for NVlabs and rosinality checkpoints."""
