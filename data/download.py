"""Download the public time-series benchmarks and lay them out as the loaders expect.

    python -m data.download NAME [--root DIR] [--force] [--mirror URL] [--accept-checksum]
    python -m data.download --list

NAME is one of ``smd``, ``smap_msl`` (alias ``smap``, ``msl``), ``psm``, ``nab``, ``ucr``,
``tsb-ad-m``, ``tsb-ad-u`` (TSB-AD's archives and its ``File_List`` csvs),
``nips_ts`` (all four of ``swan``, ``gecco``, ``ccard``, ``mulvar``, or one of them). ``swat``
and ``wadi`` are licensed: the command prints how to request them. The default root is
``datasets/<FOLDER>`` (the folder the config in ``configs/__base__/datasets`` points at).

Checksums. Every file in ``SOURCES`` may pin a sha256. This table was written on a machine
without access to the sources and no public project publishes digests for these files, so the
pins are empty (``None``). A file is checked against its pin, else against the digest recorded
in ``<root>/.download.json`` by an earlier download of the same root; a mismatch deletes the
file and fails. A file with neither is refused: its computed sha256 is printed and the command
fails until it is run again with ``--accept-checksum``, which accepts and records the digests
(later ``--force`` downloads are then verified against the record, so a silently changed
upstream file is caught). Pin a digest by adding it to ``SOURCES`` once you have verified it.

Mirror. ``--mirror URL`` (or the ``SSMAD_DATA_MIRROR`` environment variable) replaces every
source address by ``URL/<dataset>/<file name>`` with the names of ``SOURCES`` (e.g.
``URL/smd/train/machine-1-1.txt``, ``URL/smap_msl/data.zip``); the tests serve such a tree.

Idempotence. A completed download writes ``<root>/.download.json``; while it exists and the
expected files are present, the command does nothing (``--force`` downloads again).
Downloads are written under ``<root>/.partial`` (each through a ``.part`` file, so a file there
is complete) and removed once laid out, or when a download fails; a run refused for unknown
checksums keeps them, and the ``--accept-checksum`` run reuses them instead of downloading again.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from util.errors import DataError, UserError
from util.folders import missing_folders, remove_created

MIRROR_ENV = "SSMAD_DATA_MIRROR"
MARKER = ".download.json"


@dataclass(frozen=True)
class Remote:
    """One file to fetch. ``name`` is unique within its dataset (cache and mirror path).

    A plain file is moved to ``<root>/<name>``. An archive (``members`` given) is extracted:
    each ``(pattern, folder)`` rule copies the members whose path, or any trailing part of it,
    matches the glob ``pattern`` to ``<root>/<folder>/<basename>``.
    """

    name: str
    url: str
    sha256: str | None = None
    members: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Source:
    """A public dataset: its files, the default folder under ``datasets/`` and what must exist afterwards."""

    folder: str
    files: tuple[Remote, ...]
    expect: tuple[str, ...]
    citation: str
    unreachable: str = ""  # what to do when the host does not answer ({root}: the target folder)


def _raw(repo: str, ref: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{ref}/{path}"


SMD_MACHINES = tuple(f"machine-{group}-{i}" for group, count in ((1, 8), (2, 9), (3, 11)) for i in range(1, count + 1))
NAB_CATEGORIES = ("artificialNoAnomaly", "artificialWithAnomaly", "realAdExchange", "realAWSCloudwatch", "realKnownCause", "realTraffic", "realTweets")
KAMBAAD_COMMIT = "a6270c966c3225c49b5d96a80aac104a82123a08"  # xxx803/KambaAD, which ships the NIPS-TS sets as zips


def _nips_ts(archive: str, prefix: str) -> Source:
    rules = tuple((f"{part}.npy", prefix) for part in ("train", "test", "labels"))
    return Source(
        folder="NIPS_TS",
        files=(Remote(f"{archive}.zip", f"https://github.com/xxx803/KambaAD/raw/{KAMBAAD_COMMIT}/datasource/{archive}.zip", members=rules),),
        expect=tuple(f"{prefix}/{part}.npy" for part in ("train", "test", "labels")),
        citation="Lai et al., Revisiting time series outlier detection, NeurIPS 2021 (TODS benchmark); files as distributed with KambaAD.",
    )


TSB_AD_COMMIT = "87630099ea8d0dafe89a957e31ed9720e88479eb"  # TheDatumOrg/TSB-AD: its evaluation / tuning file lists


def _tsb_ad(variant: str, lists: tuple[str, ...]) -> Source:
    """TSB-AD-M or -U: the archive linked from TSB-AD's README, and its File_List csvs."""
    archive = f"TSB-AD-{variant}.zip"
    return Source(
        folder=f"TSB-AD-{variant}",
        files=(Remote(archive, f"https://www.thedatum.org/datasets/{archive}", members=(("*_tr_*_1st_*.csv", "."),)),)
        + tuple(Remote(f"File_List/TSB-AD-{variant}{s}.csv", _raw("TheDatumOrg/TSB-AD", TSB_AD_COMMIT, f"Datasets/File_List/TSB-AD-{variant}{s}.csv")) for s in lists),
        expect=(f"File_List/TSB-AD-{variant}-Eva.csv",),
        citation="Liu and Paparrizos, The Elephant in the Room: Towards A Reliable Time-Series Anomaly Detection Benchmark, NeurIPS 2024 (github.com/TheDatumOrg/TSB-AD).",
        unreachable=(
            f"The TSB-AD archives are hosted at www.thedatum.org (the links in TSB-AD's README). If it is down or unreachable "
            f"from here, fetch {archive} on another machine and unzip its csv files into {{root}} (put TSB-AD's "
            f"Datasets/File_List/*.csv under {{root}}/File_List), or serve a copy with --mirror URL."
        ),
    )


SOURCES: dict[str, Source] = {
    "smd": Source(
        folder="SMD",
        files=tuple(
            Remote(f"{split}/{m}.txt", _raw("NetManAIOps/OmniAnomaly", "master", f"ServerMachineDataset/{split}/{m}.txt"))
            for split in ("train", "test", "test_label")
            for m in SMD_MACHINES
        ),
        expect=tuple(f"{split}/machine-1-1.txt" for split in ("train", "test", "test_label")),
        citation="Su et al., OmniAnomaly, KDD 2019 (github.com/NetManAIOps/OmniAnomaly).",
    ),
    "smap_msl": Source(
        folder="SMAP_MSL",
        files=(
            Remote("data.zip", "https://s3-us-west-2.amazonaws.com/telemanom/data.zip", members=(("train/*.npy", "train"), ("test/*.npy", "test"))),
            Remote("labeled_anomalies.csv", _raw("khundman/telemanom", "master", "labeled_anomalies.csv")),
        ),
        expect=("labeled_anomalies.csv", "train/A-1.npy", "test/A-1.npy"),
        citation="Hundman et al., KDD 2018 (github.com/khundman/telemanom).",
    ),
    "psm": Source(
        folder="PSM",
        files=tuple(Remote(f, _raw("eBay/RANSynCoders", "main", f"data/{f}")) for f in ("train.csv", "test.csv", "test_label.csv")),
        expect=("train.csv", "test.csv", "test_label.csv"),
        citation="Abdulaal et al., KDD 2021 (github.com/eBay/RANSynCoders).",
    ),
    "nab": Source(
        folder="NAB",
        files=(
            Remote(
                "NAB-master.zip",
                "https://github.com/numenta/NAB/archive/refs/heads/master.zip",
                members=tuple((f"data/{c}/*.csv", c) for c in NAB_CATEGORIES)
                + (("labels/combined_labels.json", "."), ("labels/combined_windows.json", ".")),
            ),
        ),
        expect=("combined_labels.json", "combined_windows.json", "realKnownCause/nyc_taxi.csv"),
        citation="Ahmad et al., Neurocomputing 2017 (github.com/numenta/NAB).",
    ),
    "ucr": Source(
        folder="UCR",
        files=(
            Remote(
                "UCR_TimeSeriesAnomalyDatasets2021.zip",
                "https://www.cs.ucr.edu/~eamonn/time_series_data_2018/UCR_TimeSeriesAnomalyDatasets2021.zip",
                members=(("*_UCR_Anomaly_*.txt", "."),),
            ),
        ),
        expect=(),
        citation="Wu and Keogh, Current time series anomaly detection benchmarks are flawed, TKDE 2021.",
    ),
    "tsb-ad-m": _tsb_ad("M", ("", "-Eva", "-Tuning")),
    "tsb-ad-u": _tsb_ad("U", ("", "-Eva", "-Eva-Full", "-Tuning")),
    "swan": _nips_ts("NIPS_TS_Swan", "NIPS_TS_Swan"),
    "gecco": _nips_ts("NIPS_TS_GECCO", "NIPS_TS_Water"),
    "ccard": _nips_ts("NIPS_TS_CCard", "NIPS_TS_CCard"),
    "mulvar": _nips_ts("NIPS_TS_Syn_Mulvar", "NIPS_TS_Syn_Mulvar"),
}
GROUPS = {"nips_ts": ("swan", "gecco", "ccard", "mulvar")}
ALIASES = {"smap": "smap_msl", "msl": "smap_msl"}
LICENSED = {
    "swat": (
        "SWaT is distributed by iTrust (Singapore University of Technology and Design) on request: fill in the form at "
        "https://itrust.sutd.edu.sg/itrust-labs_datasets/dataset_info/ , then put the normal-operation csv (training) and the "
        "attack csv (test, with its 'Normal/Attack' column) under {root} and set data.train_file / data.test_file."
    ),
    "wadi": (
        "WADI is distributed by iTrust (Singapore University of Technology and Design) on request: "
        "https://itrust.sutd.edu.sg/itrust-labs_datasets/dataset_info/ ; put its csv files under {root} and load them with "
        "data.type=csv (train_path, test_path, label_column)."
    ),
}
LICENSED_FOLDERS = {"swat": "SWaT", "wadi": "WADI"}  # the roots of configs/__base__/datasets
LOADER_TO_DOWNLOAD = {"smap": "smap_msl", "msl": "smap_msl", "nips_ts": "nips_ts", "tsb-ad": "tsb-ad-m"}


def how_to_get(dataset: str, root: Path | str) -> str:
    """One sentence for error messages: the download command, or how to request licensed data."""
    key = LOADER_TO_DOWNLOAD.get(dataset, dataset)
    if key in LICENSED:
        return LICENSED[key].format(root=root)
    if key in SOURCES or key in GROUPS:
        return f"Download it with: python -m data.download {key} --root {root}"
    return "Point data.root (or data.test_path) at the files."


def resolve(name: str, root: Path | str | None = None) -> list[str]:
    """Dataset keys of ``SOURCES`` behind a command-line name; licensed or unknown names are a ``UserError``."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in LICENSED:
        raise UserError(LICENSED[key].format(root=root or f"datasets/{LICENSED_FOLDERS[key]}"))
    if key in GROUPS:
        return list(GROUPS[key])
    if key not in SOURCES:
        names = sorted([*SOURCES, *GROUPS, *ALIASES, *LICENSED])
        raise UserError(f"Unknown dataset '{name}'; choose one of {', '.join(names)}.")
    return [key]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, dest: Path) -> None:
    """Stream ``url`` to ``dest`` through ``dest.part`` with a progress bar (shown on a terminal)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as error:
        part.unlink(missing_ok=True)
        raise DataError(f"Could not download {url}: {error}. Check the connection, or use --mirror URL / ${MIRROR_ENV}.") from None
    part.replace(dest)


def _matches(member: str, pattern: str) -> bool:
    parts = member.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern) for i in range(len(parts)))


def _extract(archive: Path, rules: tuple[tuple[str, str], ...], root: Path) -> int:
    """Copy the archive members selected by ``rules`` to ``root``; returns how many were copied."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            members = [(m.filename, lambda m=m: z.open(m)) for m in z.infolist() if not m.is_dir()]
            return _copy_members(members, rules, root)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = [(m.name, lambda m=m: t.extractfile(m)) for m in t.getmembers() if m.isfile()]
            return _copy_members(members, rules, root)
    raise DataError(f"{archive} is neither a zip nor a tar archive; the download is corrupt or the source changed.")


def _copy_members(members: list, rules: tuple[tuple[str, str], ...], root: Path) -> int:
    copied = 0
    for path, open_member in members:
        base = path.rsplit("/", 1)[-1]
        if "__MACOSX" in path or base.startswith("._"):
            continue
        folder = next((f for pattern, f in rules if _matches(path, pattern)), None)
        if folder is None:
            continue
        target = root / folder / base
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_member() as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        copied += 1
    return copied


def _verify(remote: Remote, path: Path, recorded: str | None, url: str, accept: bool, log: Callable[[str], None]) -> tuple[str, bool]:
    """(sha256, known) of a downloaded file: known when pinned, recorded or accepted with ``--accept-checksum``.

    A digest differing from the pin or the record deletes the file and is refused.
    """
    digest = sha256_of(path)
    expected = remote.sha256 or recorded
    if expected and digest != expected:
        path.unlink()
        origin = "pinned in data/download.py" if remote.sha256 else "recorded by the previous download"
        raise DataError(
            f"Checksum mismatch for {url}: sha256 {digest}, expected {expected} ({origin}). The file was deleted: "
            "the download is corrupt or the upstream file changed. Retry; if the new file is genuine, update the pin "
            "or delete the record in .download.json."
        )
    if remote.sha256:
        return digest, True
    note = "matches the recorded digest" if recorded else "no known checksum: " + ("accepted (--accept-checksum)" if accept else "refused")
    log(f"  {remote.name}: sha256 {digest} ({note})")
    return digest, bool(recorded) or accept


def download(
    name: str,
    root: Path | str | None = None,
    force: bool = False,
    mirror: str | None = None,
    accept_checksum: bool = False,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Download and lay out dataset ``name``; returns the roots written. See the module docstring."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    roots = []
    for key in resolve(name, root):
        source = SOURCES[key]
        target = Path(root) if root is not None else Path("datasets") / source.folder
        roots.append(target)
        _download_one(key, source, target, force, mirror, accept_checksum, log)
    return roots


def _download_one(key: str, source: Source, root: Path, force: bool, mirror: str | None, accept: bool, log: Callable[[str], None]) -> None:
    marker = root / MARKER
    records = json.loads(marker.read_text()) if marker.is_file() else {}
    done = records.get(key)
    if done and not force and all((root / p).exists() for p in source.expect):
        log(f"{key}: already in {root} (use --force to download again)")
        return
    partial = root / ".partial"
    log(f"{key}: downloading {len(source.files)} file(s) to {root}")
    created = missing_folders(partial)
    files, unknown = {}, 0
    try:
        for remote in source.files:
            url = f"{mirror.rstrip('/')}/{key}/{remote.name}" if mirror else remote.url
            cached = partial / remote.name
            if force or not cached.is_file():
                try:
                    _fetch(url, cached)
                except DataError as error:
                    raise DataError(f"{error} {source.unreachable.format(root=root)}".strip()) from None
            recorded = (done or {}).get("files", {}).get(remote.name, {}).get("sha256")
            digest, known = _verify(remote, cached, recorded, url, accept, log)
            unknown += not known
            files[remote.name] = {"url": url, "sha256": digest, "pinned": bool(remote.sha256)}
    except BaseException:  # a failed download leaves nothing behind (a refusal below keeps the files on purpose)
        shutil.rmtree(partial, ignore_errors=True)
        remove_created(created)
        raise
    if unknown:
        raise DataError(
            f"{key}: {unknown} downloaded file(s) have no known sha256 (printed above). Compare them with the source if it "
            f"publishes digests, then run the same command with --accept-checksum to accept and record them; the files are "
            f"kept under {partial} and are not downloaded again."
        )
    for remote in source.files:
        cached, url = partial / remote.name, files[remote.name]["url"]
        if remote.members:
            if _extract(cached, remote.members, root) == 0:
                raise DataError(f"{url} holds none of the expected files ({[p for p, _ in remote.members]}); the source layout changed.")
        else:
            (root / remote.name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(cached, root / remote.name)
    missing = [p for p in source.expect if not (root / p).exists()]
    if missing:
        raise DataError(f"{key}: after extraction {missing} are missing under {root}; the source layout changed.")
    shutil.rmtree(partial, ignore_errors=True)
    records[key] = {"files": files, "citation": source.citation}
    marker.write_text(json.dumps(records, indent=1))
    log(f"{key}: ready in {root}. Cite: {source.citation}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.download", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="dataset: " + ", ".join(sorted([*SOURCES, *GROUPS, *ALIASES, *LICENSED])))
    parser.add_argument("--root", help="target folder (default datasets/<FOLDER>)")
    parser.add_argument("--force", action="store_true", help="download again even if already present")
    parser.add_argument("--mirror", help=f"base URL serving <dataset>/<file> (or ${MIRROR_ENV})")
    parser.add_argument("--accept-checksum", action="store_true", help="accept and record the sha256 of files that have no pinned or recorded digest")
    parser.add_argument("--list", action="store_true", help="print the source table and exit")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for key, source in SOURCES.items():
            print(f"{key:9s} datasets/{source.folder:9s} {len(source.files):3d} file(s)  {source.files[0].url}")
        for key in LICENSED:
            print(f"{key:9s} licensed: python -m data.download {key} prints how to request it")
        return 0 if args.list else 2
    try:
        download(args.name, args.root, force=args.force, mirror=args.mirror, accept_checksum=args.accept_checksum)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
