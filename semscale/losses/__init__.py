"""Per-sample base losses (reduction left to the weighting): the loss maths only.

Each returns a (B,) tensor; `semscale.weighting` turns per-sample losses and labels into the batch loss, so DSB-X
is any X here times the DSB class weights (paper Eq. 4). Settings follow each loss's authors:
  Focal        gamma (Lin et al.; 1 in the class-balanced paper, 2 in the original)
  LDAM         margins C / n_j^(1/4) rescaled to max 0.5, logits scaled by 30 (Cao et al.)
  Balanced Softmax  logits + log n_j (Ren et al.)
  NormSoftmax  L2-normalised embeddings and proxies, temperature 0.05 (Zhai & Wu), Eq. 5
  SoftTriple   lambda 20, gamma 0.1, tau 0.2, delta 0.01, K 10 centres a class (Qian et al.), Eq. 6
  LADE         LADE-CE per sample + weight 0.1 * LADER per batch, PC softmax at inference (Hong et al.), lade.py
  Circle       m 0.4, gamma 80, per anchor (Sun et al.), circle.py
Losses with a batch-level term expose it as `regularizer()` (and LADE also as `extra_loss(logits, labels)`);
losses that change the inference logits expose `adjust_logits(logits)` (LADE's PC softmax).
"""
from .balanced_softmax import BalancedSoftmaxLoss
from .ce import CrossEntropy, cross_entropy
from .circle import CircleLoss
from .focal import FocalLoss
from .lade import LADELoss, pc_softmax_logits
from .ldam import LDAMLoss
from .normsoftmax import NormSoftmaxLoss
from .registry import build_loss
from .softtriple import SoftTripleLoss

__all__ = ["BalancedSoftmaxLoss", "CircleLoss", "CrossEntropy", "FocalLoss", "LADELoss", "LDAMLoss", "NormSoftmaxLoss",
           "SoftTripleLoss", "build_loss", "cross_entropy", "pc_softmax_logits"]
