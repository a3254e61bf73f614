"""A tiny configuration of the DCVC-RT architecture: same code, seconds instead of minutes."""

from nvcodec.models.bundle import CodecModel, synthetic_model
from nvcodec.models.config import InterConfig, IntraConfig, ModelConfig

TINY = ModelConfig(
    "test-tiny",
    IntraConfig(latent=32, hyper=16, feature=24, enc_blocks=1, dec_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
    InterConfig(feature=24, latent=16, hyper=16, recon=24, extractor_conv1_blocks=1, extractor_conv2_blocks=1,
                encoder_conv2_blocks=1, decoder_conv1_blocks=1, recon_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
)


def tiny_model(seed: int = 1) -> CodecModel:
    return synthetic_model(seed, TINY)
