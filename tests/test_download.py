"""python -m data.download against a local http.server mirror serving files the tests write."""
import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile
from functools import partial

import numpy as np
import pandas as pd
import pytest

from data import download as dl
from data.timeseries.psm import Psm
from data.timeseries.smap_msl import Smap
from util.errors import DataError, UserError


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def do_GET(self):
        CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """(base URL, served folder, request log) of a 127.0.0.1 server on a free port."""
    served = tmp_path / "served"
    served.mkdir()
    CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(CountingHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served, CountingHandler.requests
    server.shutdown()
    server.server_close()


def write_psm(folder):
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["timestamp_(min)"] + [f"feature_{i}" for i in range(25)]
    rng = np.random.default_rng(0)
    for name, n in (("train.csv", 40), ("test.csv", 30)):
        pd.DataFrame(np.c_[np.arange(n), rng.random((n, 25))], columns=columns).to_csv(folder / name, index=False)
    pd.DataFrame({"timestamp_(min)": np.arange(30), "label": [0] * 29 + [1]}).to_csv(folder / "test_label.csv", index=False)


def write_telemanom(folder):
    """data.zip as telemanom publishes it (data/train, data/test) plus labeled_anomalies.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(folder / "data.zip", "w") as z:
        for split in ("train", "test"):
            np.save(buffer, np.random.default_rng(1).random((50, 25)))
            z.writestr(f"data/{split}/A-1.npy", buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
        z.writestr("__MACOSX/data/train/._A-1.npy", b"junk")
    (folder / "labeled_anomalies.csv").write_text(
        'chan_id,spacecraft,anomaly_sequences,class,num_values\nA-1,SMAP,"[[10, 12]]",[point],50\n'
    )


def test_psm_download_lays_out_what_the_loader_reads(mirror, tmp_path, capsys):
    url, served, _ = mirror
    write_psm(served / "psm")
    root = tmp_path / "PSM"
    dl.download("psm", root, mirror=url, accept_checksum=True)
    (entity,) = Psm(root=str(root)).read()
    assert entity.train.shape == (40, 25) and entity.test_labels.sum() == 1
    assert not (root / ".partial").exists()
    digest = hashlib.sha256((served / "psm" / "train.csv").read_bytes()).hexdigest()
    assert f"sha256 {digest} (no known checksum: accepted" in capsys.readouterr().out  # printed and recorded
    assert digest in (root / dl.MARKER).read_text()


def test_archive_extraction_for_smap_msl(mirror, tmp_path):
    url, served, _ = mirror
    write_telemanom(served / "smap_msl")
    root = tmp_path / "SMAP_MSL"
    dl.download("smap", root, mirror=url, accept_checksum=True)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["A-1.npy"]
    (entity,) = Smap(root=str(root)).read()
    assert entity.test.shape == (50, 25) and np.flatnonzero(entity.test_labels).tolist() == [10, 11, 12]


def test_second_run_is_a_no_op_and_force_downloads_again(mirror, tmp_path):
    url, served, requests = mirror
    write_psm(served / "psm")
    root = tmp_path / "PSM"
    dl.download("psm", root, mirror=url, accept_checksum=True)
    before = {p.name: p.stat().st_mtime_ns for p in root.glob("*.csv")}
    count = len(requests)
    dl.download("psm", root, mirror=url)
    assert len(requests) == count
    assert {p.name: p.stat().st_mtime_ns for p in root.glob("*.csv")} == before
    dl.download("psm", root, mirror=url, force=True)  # verified against the recorded digests, no flag needed
    assert len(requests) == count + 3


def test_unknown_checksum_needs_accept_checksum_and_the_rerun_reuses_the_files(mirror, tmp_path, capsys):
    url, served, requests = mirror
    write_psm(served / "psm")
    root = tmp_path / "PSM"
    with pytest.raises(DataError, match=r"3 downloaded file\(s\) have no known sha256.*--accept-checksum"):
        dl.download("psm", root, mirror=url)
    digest = hashlib.sha256((served / "psm" / "test.csv").read_bytes()).hexdigest()
    assert f"test.csv: sha256 {digest} (no known checksum: refused)" in capsys.readouterr().out
    assert not (root / "test.csv").exists() and not (root / dl.MARKER).exists()
    count = len(requests)
    dl.download("psm", root, mirror=url, accept_checksum=True)
    assert len(requests) == count  # the complete files kept under .partial were reused
    assert (root / "test.csv").is_file() and not (root / ".partial").exists()
    assert digest in (root / dl.MARKER).read_text()


def test_pinned_checksum_mismatch_is_refused_and_the_file_deleted(mirror, tmp_path, monkeypatch):
    url, served, _ = mirror
    write_psm(served / "psm")
    source = dl.SOURCES["psm"]
    pinned = (dataclasses.replace(source.files[0], sha256="0" * 64),) + source.files[1:]
    monkeypatch.setitem(dl.SOURCES, "psm", dataclasses.replace(source, files=pinned))
    root = tmp_path / "PSM"
    with pytest.raises(DataError, match=r"Checksum mismatch for .*psm/train\.csv.*expected 0{64} \(pinned"):
        dl.download("psm", root, mirror=url)
    assert not (root / "train.csv").exists() and not (root / ".partial" / "train.csv").exists()


def test_forced_download_of_a_changed_file_fails_against_the_record(mirror, tmp_path):
    url, served, _ = mirror
    write_psm(served / "psm")
    root = tmp_path / "PSM"
    dl.download("psm", root, mirror=url, accept_checksum=True)
    (served / "psm" / "test.csv").write_text("tampered\n")
    with pytest.raises(DataError, match="recorded by the previous download"):
        dl.download("psm", root, mirror=url, force=True)


def test_missing_file_on_the_server_and_unknown_or_licensed_names(mirror, tmp_path):
    url, _, _ = mirror
    with pytest.raises(DataError, match=r"Could not download .*psm/train\.csv"):
        dl.download("psm", tmp_path / "PSM", mirror=url)
    with pytest.raises(UserError, match="Unknown dataset 'nope'"):
        dl.download("nope", tmp_path)
    with pytest.raises(UserError, match=r"itrust.*under datasets/SWaT "):
        dl.download("swat")
    with pytest.raises(UserError, match=f"under {tmp_path} "):
        dl.download("swat", tmp_path)


def test_a_failed_download_leaves_no_partial_files(mirror, tmp_path):
    url, served, _ = mirror
    write_psm(served / "psm")
    (served / "psm" / "test_label.csv").unlink()  # the third file fails, after two complete ones
    with pytest.raises(DataError, match="test_label.csv"):
        dl.download("psm", tmp_path / "PSM", mirror=url, accept_checksum=True)
    assert not (tmp_path / "PSM").exists()  # the folder this download created is gone, .partial included
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError):
        dl.download("psm", tmp_path / "mine", mirror=url, accept_checksum=True)
    assert list((tmp_path / "mine").iterdir()) == []  # a folder that existed stays, without .partial


def test_cli_exit_codes(mirror, tmp_path, monkeypatch, capsys):
    url, served, _ = mirror
    write_psm(served / "psm")
    monkeypatch.setenv(dl.MIRROR_ENV, url)
    assert dl.main(["psm", "--root", str(tmp_path / "PSM")]) == 2
    assert "--accept-checksum" in capsys.readouterr().err
    assert dl.main(["psm", "--root", str(tmp_path / "PSM"), "--accept-checksum"]) == 0
    assert dl.main(["wadi"]) == 2
    assert "itrust" in capsys.readouterr().err
    assert dl.main(["--list"]) == 0


def test_every_public_source_has_https_urls_and_unique_names():
    for key, source in dl.SOURCES.items():
        names = [r.name for r in source.files]
        assert len(names) == len(set(names)), key
        assert all(r.url.startswith("https://") for r in source.files), key
    assert len([r for r in dl.SOURCES["smd"].files if r.name.startswith("train/")]) == 28


def write_tsb_ad(folder):
    """TSB-AD-M.zip as linked from TSB-AD's README (a TSB-AD-M/ folder of csv files) and its File_List csvs."""
    (folder / "File_List").mkdir(parents=True)
    names = ["001_Genesis_id_1_Sensor_tr_40_1st_50.csv", "002_MSL_id_1_Sensor_tr_30_1st_45.csv"]
    with zipfile.ZipFile(folder / "TSB-AD-M.zip", "w") as z:
        for name in names:
            frame = pd.DataFrame(np.random.default_rng(2).random((60, 3)), columns=["a", "b", "c"]).assign(Label=[0] * 50 + [1] * 5 + [0] * 5)
            z.writestr(f"TSB-AD-M/{name}", frame.to_csv(index=False))
        z.writestr("__MACOSX/TSB-AD-M/._001_Genesis_id_1_Sensor_tr_40_1st_50.csv", b"junk")
    for suffix in ("", "-Eva", "-Tuning"):
        pd.DataFrame({"file_name": names[1:] if suffix == "-Eva" else names}).to_csv(folder / "File_List" / f"TSB-AD-M{suffix}.csv", index=False)


def test_tsb_ad_download_lays_out_what_the_tsbad_loader_reads(mirror, tmp_path):
    from data.timeseries.tsbad import TsbAd

    url, served, _ = mirror
    write_tsb_ad(served / "tsb-ad-m")
    root = tmp_path / "TSB-AD-M"
    dl.download("tsb-ad-m", root, mirror=url, accept_checksum=True)
    assert sorted(p.name for p in root.glob("*.csv")) == ["001_Genesis_id_1_Sensor_tr_40_1st_50.csv", "002_MSL_id_1_Sensor_tr_30_1st_45.csv"]
    (entity,) = TsbAd(root=str(root), files="File_List/TSB-AD-M-Eva.csv").read()
    assert entity.name == "002_MSL_id_1_Sensor_tr_30_1st_45" and entity.train.shape == (30, 3) and entity.test.shape == (60, 3)


def test_unreachable_host_says_where_the_archive_lives_and_what_to_do(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataError, match=r"Could not download http://127\.0\.0\.1:\d+/tsb-ad-u/TSB-AD-U\.zip.*www\.thedatum\.org.*unzip its csv files into .*TSB-AD-U"):
        dl.download("tsb-ad-u", tmp_path / "TSB-AD-U", mirror=f"http://127.0.0.1:{port}")
