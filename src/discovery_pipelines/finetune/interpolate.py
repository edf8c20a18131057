"""Weight-space ensembling of the production checkpoint and a fine-tuned model (WiSE-FT).

WiSE-FT (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models", CVPR) takes the linear
interpolation of two checkpoints that share an architecture and an initialisation:

    theta(alpha) = (1 - alpha) * theta_production + alpha * theta_finetuned,   0 <= alpha <= 1

alpha = 1 is the fine-tuned model, alpha = 0 the production model. Because fine-tuning from a
checkpoint stays in one linearly connected basin, intermediate alphas usually score at least as well
as the fine-tuned end on the new data while keeping more of what the production model already did
well, which is exactly what the regression gate checks (Good queries must not get worse). The
interpolated model costs nothing at inference: same size, same speed, same embedding dimension.
"""

from __future__ import annotations

from typing import Any

from discovery_pipelines.search.models import load_model


def interpolate_weights(production: Any, finetuned: Any, alpha: float) -> Any:
    """A new SentenceTransformer with weights ``(1 - alpha) * production + alpha * finetuned``.

    Args:
        production: the checkpoint fine-tuning started from (name, path or SentenceTransformer).
        finetuned: the fine-tuned model (name, path or SentenceTransformer), same architecture.
        alpha: mixing weight of the fine-tuned model, in [0, 1] (1 returns the fine-tuned weights).

    Returns:
        A SentenceTransformer (a copy; neither input is modified) with the production model's
        modules and settings (tokenizer, pooling, ``max_seq_length``) and interpolated float tensors.
        Integer buffers (e.g. position ids) are taken from the fine-tuned model.

    Raises:
        ValueError: alpha outside [0, 1], or the two state dicts differ in keys or tensor shapes.
    """
    import copy

    import torch

    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"WiSE-FT alpha must be in [0, 1], got {alpha}")
    prod = copy.deepcopy(load_model(production))
    ft = load_model(finetuned)
    sp, sf = prod.state_dict(), ft.state_dict()
    if set(sp) != set(sf):
        diff = sorted(set(sp) ^ set(sf))[:5]
        raise ValueError(f"cannot interpolate: the models have different parameters, e.g. {diff}")
    mixed = {}
    for k, a in sp.items():
        b = sf[k]
        if a.shape != b.shape:
            raise ValueError(f"cannot interpolate: parameter {k} has shape {tuple(a.shape)} vs {tuple(b.shape)}")
        if a.is_floating_point():
            mixed[k] = torch.lerp(a.float(), b.float().to(a.device), alpha).to(a.dtype)
        else:
            mixed[k] = b.clone()
    prod.load_state_dict(mixed)
    return prod
