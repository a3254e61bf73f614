"""Training nvc's own DCVC-RT models: data, the loop, growing and narrowing, checkpoints.

The differentiable forward passes are the frame contracts' (:mod:`nvcodec.codec.intra_codec`,
:mod:`nvcodec.codec.inter_codec`); importing any training module registers the configs the
recipe grows through (:mod:`nvcodec.training.lineage`), which the product does not know.
"""

from nvcodec.training.lineage import register_lineage

register_lineage()
