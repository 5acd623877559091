"""Networks and model files: StyleGAN2, ResNet, the fast synthesis path, and the file formats (formats -> convert -> checkpoint)."""
