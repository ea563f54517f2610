"""Networks: explicit arguments, no options objects, no device moves on construction."""

from .init import init_weights, norm_layer, per_sample_norm
from .patchgan import PatchGAN
from .resnet import ResnetGenerator
from .unet import UNet

__all__ = ["PatchGAN", "ResnetGenerator", "UNet", "init_weights", "norm_layer", "per_sample_norm"]
