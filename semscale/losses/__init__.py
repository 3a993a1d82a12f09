"""Per-sample base losses (reduction left to the weighting): the loss maths only.

Each returns a (B,) tensor; `semscale.weighting` turns per-sample losses and labels into the batch loss, so DSB-X
is any X here times the DSB class weights (paper Eq. 4). Settings follow each loss's authors:
  Focal        gamma (Lin et al.; 1 in the class-balanced paper, 2 in the original)
  LDAM         margins C / n_j^(1/4) rescaled to max 0.5, logits scaled by 30 (Cao et al.)
  Balanced Softmax  logits + log n_j (Ren et al.)
  NormSoftmax  L2-normalised embeddings and proxies, temperature 0.05 (Zhai & Wu), Eq. 5
  SoftTriple   lambda 20, gamma 0.1, tau 0.2, delta 0.01, K 10 centres a class (Qian et al.), Eq. 6
"""
from .balanced_softmax import BalancedSoftmaxLoss
from .ce import CrossEntropy, cross_entropy
from .focal import FocalLoss
from .ldam import LDAMLoss
from .normsoftmax import NormSoftmaxLoss
from .registry import build_loss
from .softtriple import SoftTripleLoss

__all__ = ["BalancedSoftmaxLoss", "CrossEntropy", "FocalLoss", "LDAMLoss", "NormSoftmaxLoss", "SoftTripleLoss",
           "build_loss", "cross_entropy"]
