"""Plusieurs graines d'un MLP entraînées d'un seul coup : un ensemble « empilé » (``torch.func``).

Les N copies du MLP (une par graine) ont leurs paramètres empilés le long d'une première
dimension (``torch.func.stack_module_state``) ; le gradient des N copies est un seul appel
vectorisé (``torch.func.vmap`` de ``torch.func.grad`` d'un ``torch.func.functional_call``).
Références : https://pytorch.org/docs/stable/func.html et le tutoriel « Model ensembling »,
https://pytorch.org/tutorials/intermediate/ensembling.html.

Graine par graine, le résultat est celui de ``reproduction.train_dense`` (boucle ordinaire,
``EpochTrainer``) aux arrondis près : même initialisation (``build_model``), mêmes lots dans le
même ordre (le même ``DataLoader``, relancé avec ``reseed_loader(loader, graine + époque)``
comme ``EpochTrainer``), même pas d'optimiseur (celui de ``torch.optim.Adam`` ou ``SGD`` avec
momentum, réécrit sur les tenseurs empilés). Seuls les produits matriciels groupés arrondissent
autrement. L'empilement ne réduit pas le calcul (produits matriciels, pas d'Adam), seulement les
frais fixes par graine (appels Python, petits noyaux) : il ne paie que si ceux-ci dominent, ce que
``benchmarks/bench_seeds.py`` mesure. Sert aux réseaux denses du notebook 12 (plusieurs graines).
"""

from __future__ import annotations

import copy
import numbers

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .models import build_model
from .training import reseed_loader

OPTIMIZERS = ("adam", "sgd")


def _check_inputs(data, seeds, hidden, epochs, lr, optimizer) -> tuple[int, ...]:
    if not isinstance(getattr(data, "train", None), DataLoader):
        raise TypeError(f"data doit être un DataBundle (load_data(...)) ; reçu {type(data).__name__}.")
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__") or len(seeds) == 0:
        raise ValueError(f"seeds doit être une suite non vide d'entiers, par exemple (0, 1, 2) ; reçu {seeds!r}.")
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds):
        raise TypeError(f"seeds ne doit contenir que des entiers ; reçu {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds contient une graine répétée : {seeds!r}.")
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__") or not all(
            isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise ValueError(f"hidden doit être une suite de tailles entières > 0, par exemple (300, 100) ; reçu {hidden!r}.")
    if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs doit être un entier >= 0 ; reçu {epochs!r}.")
    if not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0:
        raise ValueError(f"lr doit être un réel > 0 ; reçu {lr!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer doit valoir 'adam' ou 'sgd' ; reçu {optimizer!r}.")
    return tuple(int(s) for s in seeds)


def _adam_step(p, g, state, step: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
    """Le pas de ``torch.optim.Adam`` (valeurs par défaut, version « un tenseur à la fois »)."""
    m, v = state
    m.lerp_(g, 1 - betas[0])
    v.mul_(betas[1]).addcmul_(g, g, value=1 - betas[1])
    denom = (v.sqrt() / (1 - betas[1] ** step) ** 0.5).add_(eps)
    p.addcdiv_(m, denom, value=-lr / (1 - betas[0] ** step))


def _sgd_step(p, g, state, step: int, lr: float, momentum: float = 0.9) -> None:
    """Le pas de ``torch.optim.SGD`` avec momentum (sans amortissement) : v ← μ·v + g, p ← p − lr·v."""
    (buf,) = state
    if step == 1:
        buf.copy_(g)
    else:
        buf.mul_(momentum).add_(g)
    p.add_(buf, alpha=-lr)


def train_dense_ensemble(data, seeds, hidden=(300, 100), epochs: int = 10, lr: float = 1e-3,
                         optimizer: str = "adam", momentum: float = 0.9) -> dict[int, nn.Module]:
    """``{graine: MLP entraîné}`` comme ``train_dense(data, graine, ...)`` pour chaque graine, en un seul ensemble.

    Défauts de ``reproduction.train_dense`` : ``hidden=(300, 100)`` sur MNIST, c'est LeNet-300-100 ;
    Adam, ``lr=1e-3``. ``optimizer="sgd"`` : SGD avec ``momentum``, comme ``EpochTrainer``.
    Mémoire : les lots d'une époque de chaque graine sont gardés le temps de l'époque.

    Raises:
        TypeError: ``data`` n'est pas un ``DataBundle``, ou une graine n'est pas un entier.
        ValueError: graines absentes ou répétées, ``hidden``, ``epochs``, ``lr`` ou ``optimizer`` invalide.
    """
    seeds = _check_inputs(data, seeds, hidden, epochs, lr, optimizer)
    models = [build_model(data, kind="mlp", seed=s, hidden=tuple(hidden)) for s in seeds]
    stacked, _ = stack_module_state(models)                 # {nom: tenseur (N, ...)}
    params = {n: p.detach() for n, p in stacked.items()}
    base = copy.deepcopy(models[0]).to("meta")              # la forme du réseau, sans ses poids

    def loss_one(p, x, y):
        return F.cross_entropy(functional_call(base, p, (x,)), y)

    grads_all = vmap(grad(loss_one))                        # gradients des N copies, chacune sur ses lots
    n_state, update = (2, _adam_step) if optimizer == "adam" else (1, _sgd_step)
    kw = {} if optimizer == "adam" else {"momentum": momentum}
    state = {n: [torch.zeros_like(p) for _ in range(n_state)] for n, p in params.items()}
    step = 0
    for epoch in range(epochs):
        per_seed = []
        for s in seeds:                                     # les lots de EpochTrainer(seed=s), dans son ordre
            reseed_loader(data.train, s + epoch)
            # Par la même porte que train_one_epoch : tqdm.auto ouvre déjà un itérateur du DataLoader
            # dans son constructeur, ce qui avance le générateur du mélange ; list(data.train) seul
            # donnerait un autre ordre.
            per_seed.append(list(tqdm(data.train, disable=True, leave=False)))
        for batches in zip(*per_seed, strict=True):
            x = torch.stack([b[0] for b in batches])
            y = torch.stack([b[1] for b in batches])
            grads = grads_all(params, x, y)
            step += 1
            for n, p in params.items():
                update(p, grads[n], state[n], step, float(lr), **kw)
    for i, model in enumerate(models):
        model.load_state_dict({n: p[i] for n, p in params.items()})
    return dict(zip(seeds, models, strict=True))
