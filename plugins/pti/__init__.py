"""PTI: Pivotal Tuning Inversion of real photos into a StyleGAN2 generator (danielroich/PTI)."""
