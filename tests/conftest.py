import torch

torch.set_num_threads(2)

import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def zoo_artifacts(tmp_path_factory):
    """MobileNetV2 (64 px) and yolo_n (64 px) exported to ONNX and TFLite at fp32 and int8, once per run."""
    import edgecv

    out = tmp_path_factory.mktemp("zoo_artifacts")
    arts = {}
    for model, data, size in (("mobilenet_v2", "shapes", 64), ("yolo_n", "shapes-det", 64)):
        for a in edgecv.export(model, "onnx,tflite", "fp32,int8", data=data, imgsz=size, out=out, calib_samples=128,
                               parity_samples=0, threads=2):
            arts[(model, a.format, a.precision)] = a
    return arts


# --- a board over SSH (an sshd the test starts on 127.0.0.1) -----------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if sshd is None:
        pytest.skip("OpenSSH server not installed (apt install openssh-server; .ci/run does)")
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    port = _free_port()
    config = keys / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {keys / 'pid'}\n"
                      f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\n"
                      "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
                      f"SetEnv PATH={os.environ['PATH']}\n")
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    host_key = (keys / "host.pub").read_text().split()
    (keys / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    profile = tmp_path / "board.toml"
    profile.write_text(f'name = "board"\narch = "{platform.machine()}"\ncores = 2\n[ssh]\n'
                       f'host = "{os.environ.get("USER", "root")}@127.0.0.1"\nport = {port}\n'
                       f'identity_file = "{keys / "client"}"\nknown_hosts = "{keys / "known_hosts"}"\n'
                       f'python = "{sys.executable}"\nworkdir = "{tmp_path / "remote"}"\n')
    yield profile, keys, port
    proc.terminate()
    proc.wait(timeout=10)
