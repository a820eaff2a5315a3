"""Carry the real datasets to a GPU machine in parts, and put them back bit for bit (issue 15, item 5).

A call to the lent GPU machine carries the checkout plus at most 64 MiB of ignored paths, so FER2013's
94 MB `fer2013.csv.gz` cannot travel in one piece. `pack` turns a data root into numbered parts, each below
`--part-mb` (default 25 MiB = 26.2 MB, under the 28 MB a part may weigh), plus a small manifest; `unpack`
checks every part and every file against the manifest's SHA-256 and writes the files back byte-identical.

    python -m fer_lib.core.datapack pack   --data-root ../shared/data --out .datapack [--only fer2013 ckplus]
    python -m fer_lib.core.datapack unpack --parts .datapack --dest .data [--partial]
    python -m fer_lib.core.datapack check  --parts .datapack          # which parts are present / missing

then point the project at it: `FER_DATA_ROOT=.data`. `.datapack/` and `.data/` are git-ignored: data never
enter the tracked tree (the licences, CK+ especially, forbid redistribution).

Carrying, one GPU call at a time (a warm machine keeps what earlier calls brought; name different paths):
    call 1: carry [".datapack/manifest.json", ".datapack/part-000", ".datapack/part-001"]
    call 2: carry [".datapack/manifest.json", ".datapack/part-002", ".datapack/part-003"],
            command "python -m fer_lib.core.datapack unpack --parts .datapack --dest .data && ..."
`unpack --partial` writes the files whose bytes are all present and lists the rest, so work that needs
only CK+ or MNIST can start before FER2013's last part arrives.

Format (version 1): the files, in sorted path order, each encoded alone — "xz" (LZMA) when it shrinks the
file by >= 10 %, else "store" (already-compressed files: .gz, .png, .jpg) — are concatenated into one byte
stream cut into parts. The manifest lists every file (path, size, SHA-256, codec, offset and length in the
stream) and every part (name, size, SHA-256). Re-gzipping FER2013's CSV would pack smaller (~55 MB), but
gzip output is not reproducible across zlib builds (a level-9 re-gzip here differs from the original by 6
bytes), so the original .gz travels as it is: bit-exactness first.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import sys
from pathlib import Path

from .io import atomic_write_bytes

FORMAT = 1
PART_MB = 25.0
STORED = {".gz", ".png", ".jpg", ".jpeg", ".zip", ".xz", ".bz2", ".npz", ".pt"}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _encode(path: Path, data: bytes) -> tuple[str, bytes]:
    if path.suffix.lower() in STORED or len(data) < 1024:
        return "store", data
    packed = lzma.compress(data, preset=6)
    return ("xz", packed) if len(packed) <= 0.9 * len(data) else ("store", data)


def pack(data_root: str | Path, out: str | Path, only: list[str] | None = None,
         part_bytes: int = int(PART_MB * 2**20)) -> dict:
    """Write `out/manifest.json` and `out/part-NNN` for the files under `data_root` (or its `only` folders)."""
    root, out = Path(data_root), Path(out)
    if not root.is_dir():
        raise ValueError(f"datapack: data root {root} is not a folder")
    tops = [root / o for o in only] if only else [root]
    for t in tops:
        if not t.exists():
            raise ValueError(f"datapack: {t} does not exist (folders here: {sorted(p.name for p in root.iterdir())})")
    files = sorted({p for t in tops for p in ([t] if t.is_file() else t.rglob("*")) if p.is_file()})
    if not files:
        raise ValueError(f"datapack: no file under {', '.join(map(str, tops))}")
    if part_bytes < 1:
        raise ValueError("datapack: part size must be positive")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*"):  # a pack is written whole: no stale part of an earlier pack stays beside it
        old.unlink()
    entries, parts, offset = [], [], 0
    buf = bytearray()

    def flush(final: bool = False):
        while len(buf) >= part_bytes or (final and buf):
            chunk = bytes(buf[:part_bytes])
            del buf[:part_bytes]
            name = f"part-{len(parts):03d}"
            atomic_write_bytes(out / name, chunk)
            parts.append({"name": name, "size": len(chunk), "sha256": _sha(chunk)})

    for p in files:
        data = p.read_bytes()
        codec, enc = _encode(p, data)
        entries.append({"path": p.relative_to(root).as_posix(), "size": len(data), "sha256": _sha(data),
                        "codec": codec, "offset": offset, "length": len(enc)})
        offset += len(enc)
        buf += enc
        flush()
    flush(final=True)
    manifest = {"format": FORMAT, "part_bytes": part_bytes, "stream_bytes": offset, "files": entries, "parts": parts}
    atomic_write_bytes(out / "manifest.json", json.dumps(manifest, indent=1).encode())
    return manifest


def read_manifest(parts_dir: str | Path) -> dict:
    path = Path(parts_dir) / "manifest.json"
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"datapack: {path} not found (carry the manifest with every part)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"datapack: {path} is not a datapack manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT or "files" not in m or "parts" not in m:
        raise ValueError(f"datapack: {path} is not a version-{FORMAT} datapack manifest")
    return m


def check(parts_dir: str | Path) -> tuple[list[str], list[str]]:
    """(present and intact parts, missing parts); a present part with the wrong bytes is an error naming it."""
    d, m = Path(parts_dir), read_manifest(parts_dir)
    ok, missing = [], []
    for part in m["parts"]:
        p = d / part["name"]
        if not p.exists():
            missing.append(part["name"])
            continue
        data = p.read_bytes()
        if len(data) != part["size"] or _sha(data) != part["sha256"]:
            raise ValueError(f"datapack: part {p} is damaged ({len(data)} bytes, expected {part['size']} with "
                             f"SHA-256 {part['sha256'][:12]}…); carry it again")
        ok.append(part["name"])
    return ok, missing


def unpack(parts_dir: str | Path, dest: str | Path, partial: bool = False, force: bool = False) -> dict:
    """Write every file of the pack under `dest`, verified byte for byte; returns {"written", "same", "waiting"}.

    An existing file with other bytes is refused (force=True replaces it). Missing parts are an error unless
    `partial`, which writes the files whose bytes are all present and lists the others as waiting."""
    d, dest = Path(parts_dir), Path(dest)
    m = read_manifest(d)
    present, missing = check(d)
    if missing and not partial:
        raise ValueError(f"datapack: {len(missing)} of {len(m['parts'])} parts missing from {d}: {missing}; "
                         "carry them (or use --partial)")
    starts = [i * m["part_bytes"] for i in range(len(m["parts"]))]
    have = set(present)
    cache: dict[int, bytes] = {}

    def read(offset: int, length: int) -> bytes | None:
        out = bytearray()
        while length > 0:
            i = offset // m["part_bytes"]
            name = m["parts"][i]["name"]
            if name not in have:
                return None
            if i not in cache:
                cache.clear()  # parts are read in order: keep one in memory
                cache[i] = (d / name).read_bytes()
            chunk = cache[i][offset - starts[i]: offset - starts[i] + length]
            out += chunk
            offset, length = offset + len(chunk), length - len(chunk)
        return bytes(out)

    report = {"written": [], "same": [], "waiting": []}
    for f in m["files"]:
        target = dest / f["path"]
        if Path(f["path"]).is_absolute() or ".." in Path(f["path"]).parts:
            raise ValueError(f"datapack: manifest path {f['path']!r} leaves the destination")
        enc = read(f["offset"], f["length"])
        if enc is None:
            report["waiting"].append(f["path"])
            continue
        data = lzma.decompress(enc) if f["codec"] == "xz" else enc
        if len(data) != f["size"] or _sha(data) != f["sha256"]:
            raise ValueError(f"datapack: {f['path']} does not match its manifest entry after unpacking")
        if target.exists():
            if target.read_bytes() == data:
                report["same"].append(f["path"])
                continue
            if not force:
                raise ValueError(f"datapack: {target} exists with other bytes; refusing to replace it (use --force)")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        report["written"].append(f["path"])
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_lib.core.datapack", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="data root -> manifest + parts")
    p.add_argument("--data-root", default=os.environ.get("FER_DATA_ROOT", "../shared/data"))
    p.add_argument("--out", default=".datapack")
    p.add_argument("--only", nargs="*", help="sub-folders of the data root (e.g. fer2013 ckplus); default all")
    p.add_argument("--part-mb", type=float, default=PART_MB, help="part size in MiB (default %(default)s)")
    u = sub.add_parser("unpack", help="manifest + parts -> files, verified")
    u.add_argument("--parts", default=".datapack")
    u.add_argument("--dest", required=True)
    u.add_argument("--partial", action="store_true", help="write the files whose parts are all here")
    u.add_argument("--force", action="store_true", help="replace existing files that differ")
    c = sub.add_parser("check", help="which parts are here, which are missing")
    c.add_argument("--parts", default=".datapack")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "pack":
            m = pack(a.data_root, a.out, a.only, int(a.part_mb * 2**20))
            stored = sum(f["size"] for f in m["files"])
            print(f"packed {len(m['files'])} files ({stored / 1e6:.1f} MB) into {len(m['parts'])} parts "
                  f"({m['stream_bytes'] / 1e6:.1f} MB) under {a.out}: "
                  + ", ".join(f"{p['name']} {p['size'] / 1e6:.1f} MB" for p in m["parts"]))
        elif a.cmd == "unpack":
            r = unpack(a.parts, a.dest, a.partial, a.force)
            print(f"unpacked into {a.dest}: {len(r['written'])} written, {len(r['same'])} already identical, "
                  f"{len(r['waiting'])} waiting for missing parts" + (f" ({r['waiting'][:5]}…)" if r["waiting"] else ""))
        else:
            ok, missing = check(a.parts)
            print(f"{len(ok)} parts present and intact; missing: {missing or 'none'}")
            return 0 if not missing else 3
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
