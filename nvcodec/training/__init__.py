"""Training nvc's own DCVC-RT models: data, differentiable forward passes, the loop, checkpoints."""
