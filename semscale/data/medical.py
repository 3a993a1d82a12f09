"""OIA-ODIR (Li et al. 2020) and its balanced version OIA-ODIR-B (paper App. D.6).

Layout of the public release (github.com/nkicsl/OIA-ODIR), unchanged:
    OIA-ODIR/Training Set/Annotation/training annotation (English).xlsx
    OIA-ODIR/Training Set/Images/<ID>_left.jpg, <ID>_right.jpg
    OIA-ODIR/Off-site Test Set/{Annotation/off-site test annotation (English).xlsx, Images/}
    OIA-ODIR/On-site Test Set/{Annotation/on-site test annotation (English).xlsx, Images/}
Each annotation sheet has one row per patient: ID, Patient Age, Patient Sex, Left-Fundus, Right-Fundus,
Left-Diagnostic Keywords, Right-Diagnostic Keywords, then the 0/1 columns N D G C A H M O (normal, diabetes,
glaucoma, cataract, AMD, hypertension, myopia, other). A .csv export with the same header is read when no .xlsx is
there (xlsx needs openpyxl).

Our reading of App. D.6.1 (stated because the paper gives only Fig. 10's bar chart):
  * classes: the first 7 labels N D G C A H M as single-label classes, following Yang et al. 2022; a patient
    with O = 1 is dropped, as is (multi_label="drop", default) a patient with more than one of the 7; with
    multi_label="first" such a patient takes the first of its labels in N..M order instead;
  * splits: train = the Training Set (3,500 patients), test = the Off-site and On-site Test Sets together
    (500 + 1,000 patients); "test-offsite" and "test-onsite" give them apart. Fig. 10's smallest class, H, has
    103 training and 46 test samples; the release's H counts are 103 (training) and 16 + 30 (off-/on-site),
    which is what this reading rests on;
  * a sample is a fundus image labelled with its patient's label: eyes="both" (default) gives two images a
    patient, eyes="left" / "right" one (then the counts are the patients', as in Fig. 10);
  * OIA-ODIR-B: in every class `per_class` patients drawn with `seed`, by default as many as the smallest class
    has in that split (103 train, 46 test on the release), both eyes of a drawn patient kept together.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ._disk import locate
from .base import DatasetLayoutError, FileImageDataset
from .builders import subset_with_counts
from .registry import register

CLASSES = ["N", "D", "G", "C", "A", "H", "M"]
CLASS_NAMES = ["normal", "diabetes", "glaucoma", "cataract", "AMD", "hypertension", "myopia"]
LABEL_COLUMNS = CLASSES + ["O"]
PARTS = {"train": ("Training Set",), "test": ("Off-site Test Set", "On-site Test Set"),
         "test-offsite": ("Off-site Test Set",), "test-onsite": ("On-site Test Set",)}
REQUIRED = ("ID", "Left-Fundus", "Right-Fundus", *LABEL_COLUMNS)
LOOKS_FOR = ("OIA-ODIR/Training Set/Annotation", "oia-odir/Training Set/Annotation")
PUBLISHED = "github.com/nkicsl/OIA-ODIR (Baidu / Google Drive links there; challenge: odir2019.grand-challenge.org)"


def annotation_file(part: Path, name: str) -> Path:
    folder = part / "Annotation"
    found = sorted(folder.glob("*.xlsx")) or sorted(folder.glob("*.csv"))
    if not found:
        raise DatasetLayoutError(f"{name}: no annotation sheet (*.xlsx or *.csv) in {folder}; re-extract the release")
    return found[0]


def read_sheet(path: Path, name: str) -> list[tuple[int, dict]]:
    """[(row number, {column: value})] of the first sheet (xlsx) or of a csv, header on row 1."""
    if path.suffix == ".xlsx":
        try:
            from openpyxl import load_workbook
        except ImportError:
            raise DatasetLayoutError(f"{name}: reading {path} needs openpyxl (pip install openpyxl), or save the "
                                     "sheet as a .csv beside it") from None
        book = load_workbook(path, read_only=True, data_only=True)
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
    else:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    if not rows:
        raise DatasetLayoutError(f"{name}: {path} is empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DatasetLayoutError(f"{name}: {path}: row 1 lacks column(s) {missing}; it has {header}")
    return [(number, dict(zip(header, row))) for number, row in enumerate(rows[1:], start=2)
            if any(v not in (None, "") for v in row)]


def _flag(value, path: Path, number: int, column: str, name: str) -> int:
    try:
        flag = int(float(value))
    except (TypeError, ValueError):
        flag = -1
    if flag not in (0, 1):
        raise DatasetLayoutError(f"{name}: {path}:row {number}: column {column} holds {value!r}, expected 0 or 1")
    return flag


def read_patients(folder: Path, split: str, name: str, multi_label: str = "drop"):
    """Single-label patients of a split: [(label, patient id, left file, right file, origin)]."""
    if multi_label not in ("drop", "first"):
        raise ValueError(f"{name}: multi_label must be 'drop' or 'first', got {multi_label!r}")
    patients = []
    for part_name in PARTS[split]:
        part = folder / part_name
        sheet = annotation_file(part, name)
        for number, row in read_sheet(sheet, name):
            flags = [_flag(row[c], sheet, number, c, name) for c in LABEL_COLUMNS]
            positive = [i for i, f in enumerate(flags[:7]) if f]
            if flags[7] or not positive or (len(positive) > 1 and multi_label == "drop"):
                continue
            patients.append((positive[0], str(row["ID"]).strip(), part / "Images" / str(row["Left-Fundus"]).strip(),
                             part / "Images" / str(row["Right-Fundus"]).strip(), f"{sheet}:row {number}"))
    return patients


def patients_dataset(patients, eyes: str, name: str, source: Path, mode: str, transform) -> FileImageDataset:
    if eyes not in ("both", "left", "right"):
        raise ValueError(f"{name}: eyes must be 'both', 'left' or 'right', got {eyes!r}")
    sides = ("left", "right") if eyes == "both" else (eyes,)
    samples = [(label, pid, left if side == "left" else right, side, origin)
               for label, pid, left, right, origin in patients for side in sides]
    extras = {"patient_id": np.asarray([s[1] for s in samples], dtype=object),
              "eye": np.asarray([s[3] for s in samples], dtype=object)}
    return FileImageDataset(name, [s[2] for s in samples], [s[0] for s in samples], CLASSES, source, mode,
                            transform, [s[4] for s in samples], extras)


def _folder(name: str, root) -> Path:
    base, marker = locate(name, root)
    return (base / marker).parent.parent


@register("oia-odir", splits=tuple(PARTS), aliases=("odir", "oia_odir"), looks_for=LOOKS_FOR, published=PUBLISHED,
          description="OIA-ODIR fundus images, 7 single-label classes N D G C A H M (App. D.6.1; O dropped)")
def load_oia_odir(split="train", root=None, download=True, eyes="both", multi_label="drop", mode="RGB",
                  transform=None) -> FileImageDataset:
    folder = _folder("oia-odir", root)
    return patients_dataset(read_patients(folder, split, "oia-odir", multi_label), eyes, f"oia-odir-{split}",
                            folder, mode, transform)


@register("oia-odir-b", splits=tuple(PARTS), aliases=("odir-b", "oia_odir_b"), looks_for=LOOKS_FOR,
          published=PUBLISHED, description="OIA-ODIR-B: every class cut to the smallest's patients (103 train / "
                                           "46 test on the release), seeded (load_dataset options: seed, per_class)")
def load_oia_odir_b(split="train", root=None, download=True, seed=0, per_class=None, eyes="both",
                    multi_label="drop", mode="RGB", transform=None) -> FileImageDataset:
    folder = _folder("oia-odir-b", root)
    patients = read_patients(folder, split, "oia-odir-b", multi_label)
    labels = np.asarray([p[0] for p in patients], dtype=np.int64)
    sizes = np.bincount(labels, minlength=len(CLASSES))
    count = int(sizes.min()) if per_class is None else int(per_class)
    if count < 1 or count > sizes.min():
        raise DatasetLayoutError(f"oia-odir-b: {count} patients a class asked for in split {split!r}, but class "
                                 f"{CLASSES[int(sizes.argmin())]} has {int(sizes.min())}")
    kept = subset_with_counts(labels, [count] * len(CLASSES), seed)
    data = patients_dataset([patients[i] for i in kept], eyes, f"oia-odir-b-{split}", folder, mode, transform)
    data.extras["subset_seed"] = int(seed)
    return data
