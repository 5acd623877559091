"""Training: datasets, the StyleGAN2-ADA loop, augmentation, metrics, dreamers and export."""
