"""Remote tables in the user config, ssh command lines and the sync file list, without a server."""

from __future__ import annotations

import shlex
import tarfile
from pathlib import Path

import pytest

from tests.helpers import run_ztf
from ztf_tutor import locations
from ztf_tutor.config import load_settings, tomllib
from ztf_tutor.curriculum import curriculum
from ztf_tutor.errors import ConfigError, ZtfError
from ztf_tutor.remote.config import Remote, get_remote, load_remotes, split_destination
from ztf_tutor.remote.ssh import SshClient, quote_ssh_value
from ztf_tutor.remote.sync import add_file, iter_files, rsync_word, sync_entries
from ztf_tutor.workspace import Workspace


def test_add_list_remove_roundtrip(tmp_path: Path) -> None:
    key = tmp_path / "my key"
    key.write_text("not a real key")

    added = run_ztf("remote", "add", "gpu1", "me@example.invalid", "--port", "2222", "--identity", str(key),
                    "--python", "/opt/py/bin/python", "--dir", "~/ztf work", "-o", "ProxyJump=bastion")
    listed = run_ztf("remote", "list", "--json")
    removed = run_ztf("remote", "remove", "gpu1")

    assert added.returncode == 0, added.stderr
    assert listed.returncode == 0, listed.stderr
    assert '"host": "example.invalid"' in listed.stdout
    assert '"user": "me"' in listed.stdout
    assert removed.returncode == 0, removed.stderr
    assert "remotes" not in tomllib.loads(locations.config_file().read_text())


def test_saved_table_reads_back() -> None:
    run_ztf("remote", "add", "box", "box.example.invalid", "--dir", "/data/ztf", "--sync", "tar", "--multiplex")

    remote = get_remote("box")

    assert remote == Remote(name="box", host="box.example.invalid", dir="/data/ztf", sync="tar", multiplex=True)


def test_other_tables_survive_a_save() -> None:
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text('editor = "vim"\n\n[check]\ntimeout_fast = 30\n')

    completed = run_ztf("remote", "add", "gpu1", "host.example.invalid")

    assert completed.returncode == 0, completed.stderr
    settings = load_settings()
    assert settings.editor == "vim"
    assert settings.check.timeout_fast == 30
    assert "gpu1" in load_remotes()


def test_duplicate_name_rejected() -> None:
    run_ztf("remote", "add", "gpu1", "a.example.invalid")

    again = run_ztf("remote", "add", "gpu1", "b.example.invalid")
    replaced = run_ztf("remote", "add", "gpu1", "b.example.invalid", "--replace")

    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert replaced.returncode == 0
    assert get_remote("gpu1").host == "b.example.invalid"


@pytest.mark.parametrize("arguments, fragment", [
    (["bad name!", "host.example.invalid"], "not a valid remote name"),
    (["--", "gpu1", "-oProxyCommand=touch x"], "not a valid ssh destination"),
    (["gpu1", "user@"], "not a valid ssh destination"),
    (["gpu1", "host.example.invalid", "--identity", "/nonexistent/key"], "no such file"),
    (["gpu1", "host.example.invalid", "--port", "70000"], "--port 70000 is invalid"),
    (["gpu1", "host.example.invalid", "-o", "NoEquals"], "-o NoEquals is invalid"),
])
def test_add_rejects_bad_input(arguments: list[str], fragment: str) -> None:
    completed = run_ztf("remote", "add", *arguments)

    assert completed.returncode == 2
    assert fragment in completed.stderr
    assert "Traceback" not in completed.stderr


def test_unknown_remote_names_known_ones() -> None:
    run_ztf("remote", "add", "gpu1", "host.example.invalid")

    completed = run_ztf("remote", "test", "gpu2")

    assert completed.returncode == 2
    assert 'No remote called "gpu2" (known: gpu1)' in completed.stderr


def test_invalid_table_names_file_and_key() -> None:
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text('[remotes.gpu1]\nhost = "h"\nport = "22"\nflavour = 1\n')

    with pytest.raises(ConfigError) as raised:
        load_remotes()

    assert str(path) in raised.value.message
    assert "port = '22' is invalid" in raised.value.message
    assert 'unknown key "flavour"' in raised.value.message


def test_invalid_name_in_file_rejected() -> None:
    path = locations.config_file()
    path.parent.mkdir(parents=True)
    path.write_text('[remotes."../x"]\nhost = "h"\n')

    with pytest.raises(ConfigError) as raised:
        load_remotes()

    assert "the name is invalid" in raised.value.message


def test_attach_without_job() -> None:
    run_ztf("remote", "add", "gpu1", "host.example.invalid")

    completed = run_ztf("remote", "attach", "gpu1")

    assert completed.returncode == 2
    assert "No job was started on gpu1" in completed.stderr


def test_split_destination() -> None:
    assert split_destination("host") == (None, "host")
    assert split_destination("me@host") == ("me", "host")
    with pytest.raises(ZtfError):
        split_destination("me@-host")


def test_home_relative_dir() -> None:
    assert Remote("r", "h", dir="~/ztf").remote_dir == "ztf"
    assert Remote("r", "h", dir="~").remote_dir == "."
    assert Remote("r", "h", dir="/abs/ztf").remote_dir == "/abs/ztf"


def test_ssh_argv_keeps_user_config() -> None:
    remote = Remote("r", "host", user="me", port=2200, identity="/k/id", options=["ProxyJump=j"])

    argv = SshClient(remote).argv("true")

    assert argv[-2:] == ["me@host", "true"]
    assert "BatchMode=yes" in argv
    assert argv[argv.index("-p") + 1] == "2200"
    assert argv[argv.index("-i") + 1] == "/k/id"
    assert "-F" not in argv  # ~/.ssh/config still applies


def test_ssh_timeouts_defer_to_user() -> None:
    default = SshClient(Remote("r", "host")).argv("true")
    configured = SshClient(Remote("r", "host", options=["ServerAliveInterval=30", "ConnectTimeout=5"])).argv("true")

    assert "ConnectTimeout=15" in default
    assert "ServerAliveInterval=15" in default
    assert "ConnectTimeout=15" not in configured
    assert "ServerAliveInterval=15" not in configured


def test_ssh_option_value_quoting() -> None:
    assert quote_ssh_value("/tmp/x/%C") == "/tmp/x/%C"
    assert quote_ssh_value("/Library/Application Support/%C") == '"/Library/Application Support/%C"'


@pytest.mark.parametrize("word", ["plain", "/path with space/id", "it's", "$(touch x)", 'a"b'])
def test_rsync_word_roundtrip(word: str) -> None:
    quoted = rsync_word(word)

    assert " " not in quoted or quoted.startswith("'")
    # rsync's splitter: single quotes group, a doubled quote inside them is one quote.
    assert quoted == word or quoted == "'" + word.replace("'", "''") + "'"
    assert shlex.split(quoted.replace("''", "'\"'\"'"))[0] == word


def test_sync_list_excludes_editor_files(workspace: Workspace) -> None:
    folder = workspace.root / "phase1"
    for name in (".micrograd.py.swp", "micrograd.py~", ".#micrograd.py", "#micrograd.py#", "4913"):
        (folder / name).write_text("temporary")
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "micrograd.cpython-311.pyc").write_bytes(b"")
    lesson = curriculum().lesson("1.2")

    names = [name for name, _ in iter_files(sync_entries(workspace.root, lesson))]

    assert "workspace/phase1/micrograd.py" in names
    assert "ztf_tutor/child.py" in names
    assert "checks/p1_micrograd/check.py" in names
    assert not [name for name in names if "reference" in name or "variants" in name]
    assert not [name for name in names if "swp" in name or name.endswith(("~", "#", "4913", ".pyc"))]


def test_vanished_file_is_skipped(tmp_path: Path) -> None:
    archive_path = tmp_path / "out.tar"

    with tarfile.open(archive_path, "w") as archive:
        add_file(archive, "gone.py", tmp_path / "gone.py")
        (tmp_path / "kept.py").write_text("x = 1\n")
        add_file(archive, "kept.py", tmp_path / "kept.py")

    with tarfile.open(archive_path) as archive:
        assert archive.getnames() == ["kept.py"]
