"""Grow a trained LMLTE into a larger one that computes exactly the same function.

A larger encoder trained from scratch on a CPU needs many hours to catch up with a small model
that already converged. Growing instead starts the larger model *at* the small model's quality,
so every training step after that can only add to it (function-preserving "Net2Net" growth, Chen
et al. 2016, in its zero-initialised form):

* **wider EDSR-baseline** (``n_feats`` F -> F'): the first F channels keep their weights; the
  new channels get fresh (random) weights for everything they *read*, and zeros for everything
  the old channels read *from them* (convs into old channels, the ``coef``/``freq`` convs).
  The old channels therefore compute what they did, the new ones carry activity, and the
  zeroed weights through which they reach the output get gradients at the first step (the
  new channels' own weights from the second on).
* **deeper** (``n_resblocks`` B -> B'): the B old residual blocks stay first; the new blocks
  come after them, before the trunk's closing conv, with their second conv zeroed, so each new
  block starts as the identity (as in zero-init residual training).

The decoder (latent MLP, render MLP, phases) must have the same shape in both models.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from engine.errors import ModelError


def grow_state(small_sd: Mapping[str, torch.Tensor], small_args: Mapping[str, Any],
               large: nn.Module, large_args: Mapping[str, Any]) -> None:
    """Load ``small_sd`` (an LMLTE state dict of ``small_args``) into ``large`` (built from
    ``large_args``) so that ``large`` computes the same output; new weights keep ``large``'s
    initialisation except where they must be zero."""
    b0, f0 = _edsr_shape(small_args, "the starting checkpoint")
    b1, f1 = _edsr_shape(large_args, "the config's model")
    if b1 < b0 or f1 < f0:
        raise ModelError(f"cannot grow an encoder of {b0} blocks x {f0} features into {b1} x "
                         f"{f1}: the config's encoder must be at least as deep and as wide")
    if _decoder(small_args) != _decoder(large_args):
        raise ModelError("cannot grow: the starting checkpoint's decoder (hidden_dim, latent "
                         "and render MLPs) differs from the config's; only the encoder may grow")
    sd = large.state_dict()
    with torch.no_grad():
        for key, value in small_sd.items():
            if key.startswith(("encoder.sub_mean", "encoder.add_mean")):
                continue  # frozen, unused mean shifts: the same in every model
            # The trunk's closing conv moves from body.<b0> to body.<b1>.
            new = sd[_target_key(key, b0, b1)]
            if key.startswith("encoder.") or key in ("coef.weight", "freq.weight"):
                _embed(new, value, zero_inputs=value.dim() == 4)
            else:
                new.copy_(value)
        for block in range(b0, b1):  # new blocks start as the identity
            sd[f"encoder.body.{block}.body.2.weight"].zero_()
            sd[f"encoder.body.{block}.body.2.bias"].zero_()
    large.load_state_dict(sd)


def _embed(new: torch.Tensor, old: torch.Tensor, *, zero_inputs: bool) -> None:
    """Copy ``old`` into the leading block of ``new``; with ``zero_inputs``, the weights from
    the new input channels into the old output channels are zeroed (old outputs stay exact)."""
    if zero_inputs:
        new[: old.shape[0], old.shape[1]:] = 0
    new[tuple(slice(0, n) for n in old.shape)] = old


def _target_key(key: str, b0: int, b1: int) -> str:
    if _is_closing_conv(key, b0):
        return key.replace(f"encoder.body.{b0}.", f"encoder.body.{b1}.", 1)
    return key


def _is_closing_conv(key: str, blocks: int) -> bool:
    return key.startswith(f"encoder.body.{blocks}.")


def _edsr_shape(args: Mapping[str, Any], what: str) -> tuple[int, int]:
    enc = args["encoder_spec"]
    if enc["name"] != "edsr-baseline":
        raise ModelError(f"cannot grow: {what} has a '{enc['name']}' encoder; growth is "
                         "defined for edsr-baseline encoders")
    a = enc["args"]
    return int(a.get("n_resblocks", 16)), int(a.get("n_feats", 64))


def _decoder(args: Mapping[str, Any]) -> tuple:
    keys = ("imnet_spec", "hypernet_spec", "hidden_dim", "local_ensemble", "cell_decode",
            "mod_input")
    return tuple(repr(args.get(k)) for k in keys)


__all__ = ["grow_state"]
