"""Shipped model weights (float16 nvc model files), registered in nvcodec.models.registry."""
