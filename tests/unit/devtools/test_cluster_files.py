"""The control plane's files and command lines, checked without starting it: loopback only, one state
folder, certificates that chain to the cluster's CA with the identities RBAC expects."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeloop.devtools.cluster import args, bootstrap
from kubeloop.devtools.cluster.layout import Layout, Ports, free_ports

BIN = Path("/opt/bin")


def _layout(root: Path) -> Layout:
    return Layout(root=root, ports=Ports(etcd=2379, etcd_peer=2380, apiserver=6443, controller_manager=10257,
                                         scheduler=10259, kwok=10247))


def _all_argv(layout: Layout) -> list[list[str]]:
    return [args.etcd(layout, bin_dir=BIN), args.apiserver(layout, bin_dir=BIN),
            args.controller_manager(layout, bin_dir=BIN), args.scheduler(layout, bin_dir=BIN),
            args.kwok(layout, bin_dir=BIN, stages=BIN / "stages.yaml")]


def test_every_listener_and_url_is_on_loopback(tmp_path: Path) -> None:
    for argv in _all_argv(_layout(tmp_path)):
        for flag in argv[1:]:
            if re.search(r"(address|urls?|servers|issuer)=", flag):
                hosts = re.findall(r"(?:https?://)?(\d+\.\d+\.\d+\.\d+|localhost)", flag.split("=", 1)[1])
                assert hosts and set(hosts) == {"127.0.0.1"}, flag


def test_every_file_named_on_a_command_line_is_in_the_state_folder(tmp_path: Path) -> None:
    for argv in _all_argv(_layout(tmp_path)):
        for flag in argv[1:]:
            value = flag.split("=", 1)[-1]
            if value.startswith("/") and not value.startswith(str(BIN)):
                assert Path(value).is_relative_to(tmp_path), flag


def test_apiserver_runs_rbac_with_service_account_keys(tmp_path: Path) -> None:
    argv = args.apiserver(_layout(tmp_path), bin_dir=BIN)
    assert "--authorization-mode=Node,RBAC" in argv
    assert "--service-account-issuer=https://127.0.0.1:6443" in argv
    assert any(flag.startswith("--service-account-signing-key-file=") for flag in argv)
    assert not any("--disable-admission-plugins" in flag for flag in argv)  # ServiceAccount stays on


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_chain_to_the_ca_with_the_identities_rbac_binds(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    bootstrap.write_files(layout)
    ca = _cert(layout.ca_file)
    serving = _cert(layout.cert("apiserver"))
    serving.verify_directly_issued_by(ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    admin = _cert(layout.cert("admin"))
    admin.verify_directly_issued_by(ca)
    groups = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters"]
    kcm = _cert(layout.cert("controller-manager"))
    user = kcm.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert user == "system:kube-controller-manager"
    assert oct(layout.key("admin").stat().st_mode & 0o777) == "0o600"


def test_kubeconfigs_point_at_the_loopback_server_with_the_ca_embedded(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    bootstrap.write_files(layout)
    config = yaml.safe_load(layout.admin_kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert config["users"][0]["user"]["client-certificate-data"]


def test_layout_round_trips_through_its_folder(tmp_path: Path) -> None:
    layout = Layout(root=tmp_path, ports=free_ports())
    assert len(set(vars(layout.ports).values())) == 6
    layout.save()
    assert Layout.load(tmp_path) == layout
