"""Loading models for inference: checkpoints and exported models, the device, the
:class:`Restorer` and :class:`Translator`, exporting. Nothing here imports training."""
