"""Les petits modèles du cours.

Chaque ReLU est un module distinct (pas de ``F.relu``) : APoZ s'y accroche
par des *hooks*, et un module ReLU réutilisé mélangerait deux couches.
"""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """CNN à deux convolutions et deux couches linéaires.

    ``features`` : Conv(c→w) – ReLU – Conv(w→2w) – ReLU – MaxPool(2)
    ``classifier`` : Linear(2w·(H/2)·(W/2) → hidden) – ReLU – Linear(hidden → classes)

    Sur *digits* (1×8×8, w=16, hidden=64) : 4 976 + 33 088 + 650 ≈ 38,8 k paramètres.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 8,
                 width: int = 16, hidden: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 2 * width * (image_size // 2) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Perceptron multicouche : Flatten – [Linear – ReLU]* – Linear."""

    def __init__(self, in_features: int = 64, hidden: tuple[int, ...] = (128, 64), num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


MODELS = ("cnn", "mlp")


def build_model(data=None, kind: str = "cnn", seed: int = 0, **kwargs) -> nn.Module:
    """Construit le modèle du cours adapté à ``data`` (un ``DataBundle``), initialisé avec ``seed``."""
    if kind not in MODELS:
        raise ValueError(f"Modèle inconnu : {kind!r}. Modèles valides : {', '.join(MODELS)}.")
    c, h, w = data.input_shape if data is not None else (1, 8, 8)
    n_cls = data.num_classes if data is not None else 10
    torch.manual_seed(seed)
    if kind == "cnn":
        if c == 3 and "width" not in kwargs:
            kwargs["width"] = 32
        return SmallCNN(in_channels=c, num_classes=n_cls, image_size=h, **kwargs)
    return MLP(in_features=c * h * w, num_classes=n_cls, **kwargs)


class CifarCNN(nn.Module):
    """CNN de forme CIFAR (3×32×32) à six convolutions, façon VGG : [Conv–BN–ReLU]×2 – MaxPool, trois fois.

    Largeurs w, 2w, 4w ; tête ``Flatten – Linear(4w·4·4 → classes)``. Sert à mesurer la latence
    (qui ne dépend pas des données) ; w=64 : ~1,2 M paramètres, ~153 M MAC par image.
    """

    def __init__(self, width: int = 64, num_classes: int = 10, in_channels: int = 3, image_size: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for w in (width, 2 * width, 4 * width):
            for _ in range(2):
                layers += [nn.Conv2d(prev, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
                prev = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(prev * (image_size // 8) ** 2, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
