"""Built-in gates: credentials (never echoed), syntax, deny-listed paths; baseline-relative, naming their files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks import secrets as secrets_mod
from checks.gates import GateInput, deny_gate, find_secrets, run_gate, secrets_gate, syntax_gate
from tasks.config import SecretsPolicy
from conftest import commit_tree, make_repo, run_doit
from slicekit import all_text, build, outcome, slice_names, tree
from tasks.config import DEFAULT_DENY, DEFAULT_DENY_EXCEPT

AWS_KEY = "AKIA" + "ZX4Q7W2ERT5YUI8P"   # an access key id: AKIA + 16 characters
PASSWORD = "Hunter2-Pr0d-9xK"           # strong enough to be a real password in a config file
GHP = "ghp_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2"


@pytest.mark.parametrize("name,line,kind", [
    ("aws.py", f'AWS_KEY = "{AWS_KEY}"', "AWS Access Key"),
    ("db.ini", f"password = {PASSWORD}", "Secret Keyword"),
    ("app.env.ts", f"const DB_PASSWORD = '{PASSWORD}';", "Secret Keyword"),
    ("compose.yaml", f"      POSTGRES_PASSWORD: {PASSWORD}", "Secret Keyword"),  # strong: not a throwaway
    ("settings.py", "SECRET_KEY = 'k3J9#mZ2qP7xL5vN8wR1'", "Secret Keyword"),
    ("key.pem", "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEow" + "A" * 58 + "Bq\n-----END RSA PRIVATE KEY-----",
     "Private Key"),
    ("gh.sh", f"token {GHP}", "GitHub Token"),
    ("hf.py", "HF = 'hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh" + "'", "Hugging Face Token"),
    ("db.ts", "const url = 'https://bob:Vq7xK2mP9zL4@db.prod.acme-corp.com/x'", "Basic Auth Credentials"),
    # real-world false positives: not findings
    ("env.ts", "  AUTH_GOOGLE_CLIENT_SECRET: string;", None),                          # a type annotation
    ("main.ts", "session({ secret: sessionSecret })", None),                           # a reference
    ("compose.yaml", "  URL: postgres://u:${PG_DATABASE_PASSWORD}@db:5432/x", None),  # templated
    ("install.sh", 'echo "APP_SECRET=$(openssl rand -base64 32)"', None),
    # throwaway CI password
    (".github/workflows/ci.yml", "  POSTGRES_PASSWORD: postgres", None),
    ("docs.md", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", None),                       # AWS's documentation key
    ("db.yaml", "password: changeme", None),
    ("db.yaml", "password: <your password here>", None),
    ("db.py", 'password = os.environ["DB_PASSWORD"]', None),                          # indirect reference
    ("db.py", f'password = "{PASSWORD}"  # pragma: allowlist secret', None),
    ("db.ts", "const url = 'postgres://postgres:postgres@localhost:5432/x'", None),    # a local database
    ("en.json", '  "forgotPassword": "Forgot your password?",', None),                  # prose
    ("k8s.yaml", "  secretName: acme-tls", None),                                       # the name of a secret
    ("pem.ts", "if (pem.startsWith('-----BEGIN RSA PRIVATE KEY-----')) {", None),     # a header, no key
    ("short.py", "AKIA1234", None),
    ("check.py", "def check_password(value):", None),
    # markup: flags and bindings are no values; credentials held by elements and named entries are
    ("views/res_users.xml", '<field name="api_key" password="True"/>', None),          # Odoo's masking flag
    ("views/res_users.xml", "<field name=\"secret\" password='false' readonly=\"1\"/>", None),
    ("config/features.yml", "password: true", None),                                   # a boolean, anywhere
    ("templates/login.html", '<input type="password" autocomplete="new-password">', None),
    ("views/templates.xml", '<input t-att-password="widget.password_mode"/>', None),   # QWeb: code
    ("src/ApiKey.vue", '<input :password="!revealed" secret="masked">', None),
    ("demo/res_users_demo.xml", '<field name="password">demo</field>', None),          # Odoo demo data
    ("data/res_users.xml", '<field name="password">demo</field>', "Secret Keyword"),   # installed everywhere
    ("data/mail_server.xml", f'<field name="smtp_pass">{PASSWORD}</field>', "Secret Keyword"),
    (".mvn/settings.xml", f"  <password>{PASSWORD}</password>", "Secret Keyword"),
    (".mvn/settings.xml", "  <password>${env.CENTRAL_PASSWORD}</password>", None),
    ("Web.config", f'<add key="SmtpPassword" value="{PASSWORD}" />', "Secret Keyword"),
    ("context.xml", f'<Resource password-visible="true" password="{PASSWORD}"/>', "Secret Keyword"),
    ("views/x.xml", f'<field name="token" password="True" placeholder="{GHP}"/>', "GitHub Token"),
])
def test_find_secrets(name: str, line: str, kind: str | None) -> None:
    line = line.replace("\\n", "\n")
    found = find_secrets(f"first line\n{line}\n", name)
    assert [k for _, k in found] == ([kind] if kind else [])
    assert all(n == 2 for n, _ in found)


def test_secrets_gate_names_file_and_line_but_never_the_value(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "aws.py").write_text(f'REGION = "eu"\nKEY = "{AWS_KEY}"\n')
    (tmp_path / "conf" / "db.ini").write_text(f"[db]\nuser = app\npassword = {PASSWORD}\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    (tmp_path / "link").symlink_to("conf/aws.py")                          # symlink: not followed

    result = run_gate("secrets", ["conf/aws.py", "conf/db.ini", "clean.txt", "link", "gone.txt"], DEFAULT_DENY,
                      tmp_path)

    assert result.status == "failed" and result.kind == "gate"
    assert result.files == ("conf/aws.py", "conf/db.ini")
    assert result.stdout.splitlines() == ["conf/aws.py:2: AWS Access Key", "conf/db.ini:3: Secret Keyword"]
    assert result.message == "2 possible credential(s): conf/aws.py:2: AWS Access Key"
    everything = result.message + result.stdout + result.stderr
    assert AWS_KEY not in everything and PASSWORD not in everything
    assert secrets_gate(GateInput(["clean.txt"], tmp_path)).status == "passed"


def test_secrets_gate_streams_large_and_binary_files(tmp_path: Path) -> None:
    """A token at the end of a 3 MB file, or after a NUL byte, is found (not skipped)."""
    (tmp_path / "bundle.js").write_bytes(b"var a=1;function f(x){return x+1}\n" * 90_000 + f"t='{GHP}'\n".encode())
    (tmp_path / "huge.sql").write_bytes(b"INSERT INTO t VALUES (1);\n" * 400_000 + f"-- {GHP}\n".encode())
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2binary" + GHP.encode() + b"\0")
    (tmp_path / "tail.bin").write_bytes(os.urandom(3_000_000).replace(b"ghp_", b"xxxx") + b"\0" + GHP.encode())
    (tmp_path / "clean.bin").write_bytes(b"\0" * 10 + b"ghp_" + b"x" * 36)            # a placeholder shape
    assert (tmp_path / "huge.sql").stat().st_size > secrets_mod.MAX_TEXT                # the streamed path

    result = run_gate("secrets", ["bundle.js", "huge.sql", "blob.bin", "tail.bin", "clean.bin"], (), tmp_path)

    assert result.status == "failed"
    assert result.files == ("blob.bin", "bundle.js", "huge.sql", "tail.bin")
    assert "bundle.js:90001: GitHub" in result.stdout and "huge.sql:400001: GitHub Token" in result.stdout
    assert GHP not in result.stdout + result.message


def test_a_file_that_cannot_be_read_fails_the_gate_unless_its_path_is_allowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vault.dat").write_bytes(b"sealed")
    (tmp_path / "ok.txt").write_text("fine\n")
    real = secrets_mod.Scanner.scan_file

    def scan_file(self: secrets_mod.Scanner, path: str, file: Path) -> list[secrets_mod.Finding]:
        if path == "vault.dat":  # root reads any file, so the refusal is made here
            raise PermissionError(13, "Permission denied")
        return real(self, path, file)

    monkeypatch.setattr(secrets_mod.Scanner, "scan_file", scan_file)
    result = run_gate("secrets", ["vault.dat", "ok.txt"], (), tmp_path)
    assert result.status == "failed" and result.files == ("vault.dat",)
    assert result.stdout == "vault.dat: could not scan (Permission denied); list it in secrets.paths to skip it"
    allowed = run_gate("secrets", ["vault.dat", "ok.txt"], (), tmp_path, secrets=SecretsPolicy(paths=("*.dat",)))
    assert allowed.status == "passed"


def test_secrets_policy_allow_regexes_and_paths(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(f'TOKEN = "{GHP}"\n')
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "b.py").write_text(f'TOKEN = "{GHP}"\n')
    assert run_gate("secrets", ["a.py", "fixtures/b.py"], (), tmp_path).files == ("a.py", "fixtures/b.py")
    by_value = run_gate("secrets", ["a.py"], (), tmp_path, secrets=SecretsPolicy(allow=("^ghp_Ab1Cd2",)))
    by_line = run_gate("secrets", ["a.py"], (), tmp_path, secrets=SecretsPolicy(allow=(r"^TOKEN = ",)))
    by_path = run_gate("secrets", ["a.py", "fixtures/b.py"], (), tmp_path,
                       secrets=SecretsPolicy(paths=("fixtures/**",)))
    assert by_value.status == by_line.status == "passed"
    assert by_path.files == ("a.py",)


def _repo_with(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    repo = make_repo(tmp_path / "fork")
    return repo, commit_tree(repo, files, message="sync tip")


def test_secrets_gate_blocks_only_what_the_part_introduces(tmp_path: Path) -> None:
    """A secret already on the sync tip is pre-existing (reported, not blocking)."""
    old_password = "Old-Pr0d-Passw0rd!"
    repo, tip = _repo_with(tmp_path, {"conf/db.ini": f"[db]\npassword = {old_password}\n", "a.py": "A = 1\n"})
    wt = tmp_path / "candidate"
    (wt / "conf").mkdir(parents=True)
    # the same secret moved down a line (an upstream edit above it), plus a new file with a new token
    (wt / "conf" / "db.ini").write_text(f"# database\n[db]\npassword = {old_password}\n")
    (wt / "a.py").write_text("A = 2\n")
    gate = GateInput(["conf/db.ini", "a.py"], wt, repo=repo, parent=tip)
    kept = secrets_gate(gate)
    assert kept.status == "pre-existing" and kept.ok and kept.files == ()
    assert kept.stdout == "conf/db.ini:3: Secret Keyword (pre-existing: already on the sync branch, not blocking)"

    (wt / "a.py").write_text(f'TOKEN = "{GHP}"\n')
    added = secrets_gate(gate)
    assert added.status == "failed" and added.files == ("a.py",)
    assert added.message == "1 possible credential(s): a.py:1: GitHub Token"
    assert added.stdout.splitlines()[1].endswith("(pre-existing: already on the sync branch, not blocking)")
    # a second password in the file that already had one is new
    (wt / "a.py").write_text("A = 3\n")
    (wt / "conf" / "db.ini").write_text(f"[db]\npassword = {old_password}\nadmin_password = Zq8-mK2-pL9x\n")
    assert secrets_gate(gate).files == ("conf/db.ini",)


def test_syntax_gate_blocks_only_files_the_part_breaks(tmp_path: Path) -> None:
    """A file the fork had already broken (kept by a clean 3-way merge) is pre-existing; a new break blocks."""
    repo, tip = _repo_with(tmp_path, {"broken.json": "{,}\n", "ok.json": "{}\n", "new.yaml": "a: 1\n"})
    wt = tmp_path / "candidate"
    wt.mkdir()
    (wt / "broken.json").write_text('{"still": "broken",,}\n')
    (wt / "ok.json").write_text('{"a": 1}\n')
    (wt / "new.yaml").write_text("a: 2\n")
    gate = GateInput(["broken.json", "ok.json", "new.yaml"], wt, repo=repo, parent=tip)
    kept = syntax_gate(gate)
    assert kept.status == "pre-existing" and kept.ok and kept.files == ()
    assert kept.stdout.startswith("broken.json: ") and kept.stdout.endswith("does not parse on the sync branch "
                                                                            "either, not blocking)")
    (wt / "new.yaml").write_text("a: [1\n")
    (wt / "fresh.toml").write_text("x = \n")           # not on the parent at all: new
    broke = syntax_gate(GateInput(["broken.json", "ok.json", "new.yaml", "fresh.toml"], wt, repo=repo, parent=tip))
    assert broke.status == "failed" and broke.files == ("fresh.toml", "new.yaml")
    assert broke.message.startswith("2 file(s) do not parse: fresh.toml: ")


@pytest.mark.parametrize("name,content,ok", [
    ("a.json", '{"a": [1, 2]}\n', True),
    ("a.json", '{"a": [1, 2}\n', False),
    ("a.json", '{"a": 1, // a comment\n}\n', False),                    # plain JSON: no comments
    ("tsconfig.json", '{\n  // TypeScript reads comments\n  "compilerOptions": {"strict": true,},\n}\n', True),
    ("tsconfig.build.json", '/* block */ {"extends": "./tsconfig.json"}\n', True),
    ("jsconfig.json", '{"a": 1, /* c */}\n', True),
    (".vscode/settings.json", '{\n  "editor.tabSize": 2, // two\n}\n', True),
    (".devcontainer/devcontainer.json", '{"name": "dev", // x\n}\n', True),
    ("x.jsonc", '{"a": [1,]}\n', True),
    ("x.jsonc", '{"a": [1,\n', False),
    ("tsconfig.json", '{"a": }\n', False),
    ("a.yaml", "a:\n  - 1\n---\nb: 2\n", True),                           # several documents
    ("a.yml", "a: [1, 2\n", False),
    ("a.yaml", "a: 1\n b: 2\n", False),
    ("pyproject.toml", '[project]\nname = "x"\n', True),
    ("Cargo.toml", '[package\nname = "x"\n', False),
    ("a.py", "def f():\n    return 1\n", True),
    ("a.py", "def f(:\n", False),
    ("a.txt", "{not json", True),                                        # not a checked type
    ("a.json", b"\xff\xfe{}", False),                                    # not UTF-8
])
def test_syntax_gate(tmp_path: Path, name: str, content: str | bytes, ok: bool) -> None:
    path = tmp_path / "sub" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = syntax_gate(GateInput([f"sub/{name}"], tmp_path))
    assert result.status == ("passed" if ok else "failed")
    if not ok:
        assert result.message.startswith(f"1 file(s) do not parse: sub/{name}: ")
        assert result.stdout.startswith(f"sub/{name}: ") and result.files == (f"sub/{name}",)


def test_syntax_gate_lists_every_broken_file(tmp_path: Path) -> None:
    for name, text in (("a.json", "{"), ("b.yaml", "a: [\n"), ("c.py", "(\n"), ("d.json", "{}")):
        (tmp_path / name).write_text(text)
    result = run_gate("syntax", ["a.json", "b.yaml", "c.py", "d.json", "missing.json"], (), tmp_path)
    assert result.status == "failed" and result.message.startswith("3 file(s) do not parse: a.json: ")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["a.json", "b.yaml", "c.py"]
    assert result.files == ("a.json", "b.yaml", "c.py")


def test_checks_name_no_files_and_results_serialise_them() -> None:
    from checks.model import Result
    assert Result("unit", "failed").files == ()
    assert Result("secrets", "failed", kind="gate", files=("a",)).to_json()["files"] == ["a"]


@pytest.mark.parametrize("path,denied", [
    (".env", True), ("app/.env.production", True), (".env.local", True), ("config/secrets/key.pem", True),
    (".env.example", False), ("packages/x/.env.sample", False), (".env.template", False), ("env.example", False),
])
def test_default_deny_keeps_env_files_but_not_their_templates(tmp_path: Path, path: str, denied: bool) -> None:
    from tasks.config import Config, Fork, Upstream
    cfg = Config(tmp_path / "f.yaml", Upstream("u"), Fork(tmp_path))
    assert cfg.is_denied(path) is denied
    gate = run_gate("deny", [path], DEFAULT_DENY, tmp_path, deny_except=DEFAULT_DENY_EXCEPT)
    assert gate.ok is not denied and gate.files == ((path,) if denied else ())


@pytest.mark.parametrize("files,hits", [
    (["src/app.py", "docs/x.md"], []),
    ([".env"], [".env"]),
    (["app/.env.production", "src/a.py"], ["app/.env.production"]),
    (["config/secrets/key.pem", "x/secrets/y/z"], ["config/secrets/key.pem", "x/secrets/y/z"]),
    (["env.example", ".envrc"], []),
])
def test_deny_gate(tmp_path: Path, files: list[str], hits: list[str]) -> None:
    result = deny_gate(files, DEFAULT_DENY, tmp_path)
    if hits:
        assert result.status == "failed"
        assert result.message == f"{len(hits)} deny-listed path(s) in the slice: {', '.join(hits)}"
    else:
        assert result.status == "passed"


def test_secrets_in_upstream_content_are_deferred_and_never_reported(tmp_path: Path) -> None:
    base = {"keep.txt": "keep\n"}
    added = {"conf/aws.py": f'KEY = "{AWS_KEY}"\n', "conf/db.ini": f"[db]\npassword = {PASSWORD}\n",
             "conf/app.yaml": "name: app\n", "src/ok.py": "OK = 1\n"}
    r = build(tmp_path, base, {**base, **added}, checks=[{"name": "echo-files", "run": 'echo "$FORKWAVE_FILES"'}])

    result = run_doit(r.workspace)

    assert result.returncode != 0
    out = outcome(r, slice_names(r)[0])
    assert out["status"] == "split" and out["adopted"] == ["conf/app.yaml", "src/ok.py"]
    reasons = {f: d["reason"] for d in out["deferred"] for f in d["files"]}
    assert reasons == {"conf/aws.py": "secrets: 1 possible credential(s): conf/aws.py:1: AWS Access Key",
                       "conf/db.ini": "secrets: 1 possible credential(s): conf/db.ini:2: Secret Keyword"}
    assert all(d["checks"] == ["secrets"] for d in out["deferred"])
    synced = tree(r.fork, "sync/upstream")
    assert "conf/aws.py" not in synced and "conf/db.ini" not in synced and "src/ok.py" in synced
    reports = all_text(r.reports)
    assert "conf/aws.py:1: AWS Access Key" in reports
    assert AWS_KEY not in reports and PASSWORD not in reports
    assert AWS_KEY not in result.stdout + result.stderr and PASSWORD not in result.stdout + result.stderr


ODOO_VIEW = """<?xml version="1.0" encoding="utf-8"?>
<odoo>
    <record id="view_users_form_api" model="ir.ui.view">
        <field name="model">res.users</field>
        <field name="inherit_id" ref="base.view_users_form"/>
        <field name="arch" type="xml">
            <xpath expr="//page[@name='preferences']" position="after">
                <page string="API" name="api">
                    <field name="api_key" password="True" groups="base.group_system"/>
                    <field name="smtp_pass" password="1" autocomplete="new-password"/>
                </page>
            </xpath>
        </field>
    </record>
</odoo>
"""


def test_an_odoo_module_lands_whole_with_its_masked_fields_and_without_its_real_password(tmp_path: Path) -> None:
    """``password="True"`` masks a field in an Odoo view: the view lands with its module; a real
    SMTP password in the module's data file is still a finding, and only that file is deferred."""
    base = {"keep.txt": "keep\n"}
    module = {"addons/acme_api/__manifest__.py": "{'name': 'API', 'data': ['views/res_users.xml', "
                                                 "'data/mail_server.xml']}\n",
              "addons/acme_api/views/res_users.xml": ODOO_VIEW,
              "addons/acme_api/data/mail_server.xml": f'<odoo><record id="s" model="ir.mail_server">\n'
                                                      f'<field name="smtp_pass">{PASSWORD}</field>\n'
                                                      f'</record></odoo>\n'}
    r = build(tmp_path, base, {**base, **module})

    result = run_doit(r.workspace)

    out = outcome(r, slice_names(r)[0])
    assert sorted(out["adopted"]) == ["addons/acme_api/__manifest__.py", "addons/acme_api/views/res_users.xml"]
    reasons = {f: d["reason"] for d in out["deferred"] for f in d["files"]}
    assert reasons == {"addons/acme_api/data/mail_server.xml":
                       "secrets: 1 possible credential(s): addons/acme_api/data/mail_server.xml:2: Secret Keyword"}
    assert "addons/acme_api/views/res_users.xml" in tree(r.fork, "sync/upstream")
    assert PASSWORD not in result.stdout + result.stderr + all_text(r.reports)
