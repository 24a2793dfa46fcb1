//! packaging/ansible/ run by the real `ansible-playbook` (Debian's
//! ansible-core): audit.yml against three hosts on this machine
//! (`ansible_connection=local`), each auditing its own server of
//! testdata/fleet/ through host variables; the role installing the tarball
//! into a scratch prefix, and the .deb into the system (CI only); and
//! `--syntax-check` and ansible-lint over the role and the playbooks.
//!
//! Every run gets its own temporary directory for Ansible's temporary files,
//! configuration and home, so parallel tests and the admin's own
//! ~/.ansible and /etc/ansible/ansible.cfg stay out of it.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::report::{assert_valid, expected_rows, rows, validator};
use crate::common::{
    fixture, mxdrift_path, repo, require, require_root, require_tool, skipped, text,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The three servers of testdata/fleet/ by inventory name.
const FLEET: [(&str, &str); 3] = [
    ("web1.hoster.test", "web1"),
    ("web2.hoster.test", "web2"),
    ("web3.hoster.test", "web3"),
];

fn playbook(name: &str) -> PathBuf {
    repo("packaging/ansible").join(name)
}

/// `tool` with Ansible's state kept under `work`.
fn ansible(tool: &Path, work: &Path) -> Command {
    let cfg = work.join("ansible.cfg");
    if !cfg.exists() {
        std::fs::write(&cfg, "").unwrap();
    }
    let mut cmd = Command::new(tool);
    cmd.current_dir(work)
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOME", work.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", work.join("ansible-tmp/local"))
        .env("ANSIBLE_REMOTE_TEMP", work.join("ansible-tmp/remote"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env("HOME", work.join("home"))
        .env("XDG_CACHE_HOME", work.join("home/.cache"));
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "({})\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// An inventory of hosts on this machine: local connection, this Python,
/// no become (the tests run as root or need no root).
fn write_inventory(work: &Path, vars: Value, hosts: Value) -> PathBuf {
    let mut all_vars = json!({
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "ansible_become": false,
    });
    all_vars
        .as_object_mut()
        .unwrap()
        .extend(vars.as_object().unwrap().clone());
    let inventory = json!({"all": {"vars": all_vars, "hosts": hosts}});
    // JSON is YAML: the yaml inventory plugin reads it.
    let path = work.join("inventory.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&inventory).unwrap()).unwrap();
    path
}

/// host -> (ok, changed, failed) from the PLAY RECAP.
fn recap(stdout: &str) -> Vec<(String, u32, u32, u32)> {
    let start = stdout.find("PLAY RECAP").expect("a PLAY RECAP");
    stdout[start..]
        .lines()
        .skip(1)
        .filter(|l| l.contains(" : ok="))
        .map(|line| {
            let (host, counts) = line.split_once(" : ").unwrap();
            let count = |key: &str| -> u32 {
                counts
                    .split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (
                host.trim().to_string(),
                count("ok"),
                count("changed"),
                count("failed"),
            )
        })
        .collect()
}

fn fleet_host_vars(name: &str) -> Value {
    json!({
        "mxdrift_audit_args": [
            "--root", fixture(&format!("fleet/{name}")),
            "--zone-file", fixture("fleet/zones/test.zone"),
        ]
    })
}

/// Each fetched report is the server's own audit: valid against the
/// schema, naming the server, with the rows of its expected.txt.
fn assert_fleet_reports(reports: &Path) {
    let validator = validator();
    for (host, name) in FLEET {
        let path = reports.join(format!("{host}.json"));
        let doc: Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_valid(&validator, &path.display().to_string(), &doc);
        assert_eq!(doc["server"]["names"], json!([host]), "{}", path.display());
        assert_eq!(
            rows(&doc),
            expected_rows(&format!("fleet/{name}")),
            "{}",
            path.display()
        );
    }
}

#[test]
fn audit_playbook_fetches_a_report_per_host() {
    let Some(ansible_playbook) = require_tool("ansible-playbook") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let reports = work.path().join("reports");
    let hosts: serde_json::Map<String, Value> = FLEET
        .iter()
        .map(|(host, name)| (host.to_string(), fleet_host_vars(name)))
        .collect();
    let inventory = write_inventory(
        work.path(),
        json!({"mxdrift_bin": mxdrift_path(), "mxdrift_reports_dir": reports}),
        Value::Object(hosts),
    );
    // The whole play as an admin runs it: the audits, then `mxdrift fleet`
    // on the controller over the three fetched reports.
    let out = run(ansible(&ansible_playbook, work.path())
        .arg("-i")
        .arg(&inventory)
        .args([
            "-e",
            &json!({"mxdrift_fleet_bin": mxdrift_path()}).to_string(),
        ])
        .arg(playbook("audit.yml")));
    assert!(out.status.success(), "audit.yml {}", describe(&out));
    let stdout = text(&out.stdout);
    let hosts: BTreeSet<String> = recap(&stdout)
        .into_iter()
        .map(|(host, _, _, failed)| {
            assert_eq!(failed, 0, "{host}: {stdout}");
            host
        })
        .collect();
    assert_eq!(hosts, FLEET.iter().map(|(h, _)| h.to_string()).collect());

    let fetched: BTreeSet<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let want: BTreeSet<String> = FLEET.iter().map(|(h, _)| format!("{h}.json")).collect();
    assert_eq!(fetched, want, "one report per host and nothing else");
    assert_fleet_reports(&reports);

    // The fleet step ran the real `mxdrift fleet`: its JSON has exactly the
    // cross-server findings this fixture is built for, and its html page
    // names them.
    let fleet_json = reports.join("fleet/fleet.json");
    let doc: Value = serde_json::from_slice(
        &std::fs::read(&fleet_json).unwrap_or_else(|e| panic!("{}: {e}", fleet_json.display())),
    )
    .unwrap();
    assert_eq!(
        crate::fleet::fleet_lines(&doc),
        crate::fleet::expected_fleet_lines()
    );
    let html = std::fs::read_to_string(reports.join("fleet/fleet.html")).unwrap();
    for rule in [
        "fleet-moved-internally",
        "fleet-not-accepted",
        "fleet-local-on-several",
    ] {
        assert!(html.contains(rule), "fleet.html lacks {rule}");
    }
}

/// The fleet step's wiring, with a stand-in for `mxdrift fleet` that
/// records its arguments (what the real run above cannot show), writes its
/// --output and exits 1 (findings): it runs once per format on the controller, over every
/// host's report. A fourth host's audit fails (exit 2): the play reports
/// it, and its report of an earlier run still reaches mxdrift fleet, which
/// names old reports as stale.
#[test]
fn audit_playbook_runs_the_fleet_step_once_over_every_report() {
    let Some(ansible_playbook) = require_tool("ansible-playbook") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let reports = work.path().join("reports");
    let calls = work.path().join("calls");
    std::fs::create_dir_all(&calls).unwrap();
    std::fs::create_dir_all(&reports).unwrap();
    let earlier = reports.join("web4.hoster.test.json");
    std::fs::write(&earlier, "{}").unwrap();
    let stand_in = work.path().join("mxdrift-fleet-stand-in");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\n\
             # Stands in for `mxdrift fleet`: records its arguments, writes --output.\n\
             printf '%s\\n' \"$@\" >\"$(mktemp {calls}/call.XXXXXX)\"\n\
             while [ $# -gt 0 ]; do\n\
             \x20   if [ \"$1\" = --output ]; then echo report >\"$2\"; fi\n\
             \x20   shift\n\
             done\n\
             exit 1\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut hosts: serde_json::Map<String, Value> = FLEET
        .iter()
        .map(|(host, name)| (host.to_string(), fleet_host_vars(name)))
        .collect();
    hosts.insert(
        "web4.hoster.test".into(),
        json!({"mxdrift_audit_args": ["--root", work.path().join("no-such-root")]}),
    );
    let fleet_dir = work.path().join("fleet");
    let textfile = work.path().join("textfile/mxdrift-fleet.prom");
    let inventory = write_inventory(
        work.path(),
        json!({
            "mxdrift_bin": mxdrift_path(),
            "mxdrift_reports_dir": reports,
            "mxdrift_fleet_bin": stand_in,
            "mxdrift_fleet_html": fleet_dir.join("fleet.html"),
            "mxdrift_fleet_json": fleet_dir.join("fleet.json"),
            "mxdrift_fleet_textfile": textfile,
            "mxdrift_fleet_args": ["--max-age", "3d"],
        }),
        Value::Object(hosts),
    );
    let out = run(ansible(&ansible_playbook, work.path())
        .arg("-i")
        .arg(&inventory)
        .arg(playbook("audit.yml")));
    // web4 failed, so the play did.
    assert_eq!(out.status.code(), Some(2), "audit.yml {}", describe(&out));
    let stdout = text(&out.stdout);
    for (host, _, _, failed) in recap(&stdout) {
        assert_eq!(
            failed,
            u32::from(host == "web4.hoster.test"),
            "{host}: {stdout}"
        );
    }
    assert_fleet_reports(&reports);
    assert_eq!(
        std::fs::read_to_string(&earlier).unwrap(),
        "{}",
        "web4's earlier report stays"
    );

    let mut argvs: Vec<Vec<String>> = std::fs::read_dir(&calls)
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        })
        .collect();
    argvs.sort();
    let report_args: Vec<String> = ["web1", "web2", "web3", "web4"]
        .iter()
        .map(|h| {
            reports
                .join(format!("{h}.hoster.test.json"))
                .display()
                .to_string()
        })
        .collect();
    let expected: Vec<Vec<String>> = [
        ("html", fleet_dir.join("fleet.html")),
        ("json", fleet_dir.join("fleet.json")),
        ("prometheus", textfile.clone()),
    ]
    .iter()
    .map(|(format, output)| {
        let mut argv: Vec<String> = ["fleet", "--format", format, "--output"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.push(output.display().to_string());
        argv.extend(["--max-age".to_string(), "3d".to_string(), "--".to_string()]);
        argv.extend(report_args.iter().cloned());
        argv
    })
    .collect();
    assert_eq!(argvs, expected, "{stdout}");
    for output in [
        fleet_dir.join("fleet.html"),
        fleet_dir.join("fleet.json"),
        textfile,
    ] {
        assert!(output.is_file(), "{}", output.display());
    }
}

/// The tarball to install: the release's (scripts/dist) when it was built,
/// else one with its layout from this build's binary and the packaging files.
fn tarball(work: &Path) -> PathBuf {
    let name = format!("mxdrift-{VERSION}-x86_64-linux");
    let release = repo("target/dist").join(format!("{name}.tar.gz"));
    if release.is_file() {
        return release;
    }
    eprintln!(
        "{} not built: installing a tarball of the same layout",
        release.display()
    );
    let stage = work.join("tarball-stage");
    let top = stage.join(&name);
    for dir in ["man/man1", "man/man5", "systemd"] {
        std::fs::create_dir_all(top.join(dir)).unwrap();
    }
    std::fs::copy(mxdrift_path(), top.join("mxdrift")).unwrap();
    std::fs::copy(repo("packaging/mxdrift.yaml"), top.join("mxdrift.yaml")).unwrap();
    for unit in ["mxdrift.service", "mxdrift.timer"] {
        let text = std::fs::read_to_string(repo("packaging/systemd").join(unit)).unwrap();
        std::fs::write(
            top.join("systemd").join(unit),
            text.replace("/usr/bin/mxdrift", "/usr/local/bin/mxdrift"),
        )
        .unwrap();
    }
    let sums = run(Command::new("sh")
        .args([
            "-c",
            "find . -type f ! -name SHA256SUMS -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS",
        ])
        .current_dir(&top));
    assert!(sums.status.success(), "{}", describe(&sums));
    let path = work.join(format!("{name}.tar.gz"));
    let tar = run(Command::new("tar")
        .arg("-C")
        .arg(&stage)
        .arg("-czf")
        .arg(&path)
        .arg(&name));
    assert!(tar.status.success(), "{}", describe(&tar));
    path
}

/// The audit's extra arguments of the install tests: one that systemd
/// would read differently if the drop-in did not quote it (blanks, its
/// specifier `%`, its variables `$`, quotes, a backslash), and a number
/// (YAML's, not a string).
fn tricky_audit_args() -> Value {
    json!([
        "--nameserver",
        "192.0.2.1",
        "--attempts",
        2,
        "--trusted-mx",
        "50% off $HOME \"quoted\" back\\slash"
    ])
}

/// The role's configuration variables of the install tests, and what
/// mxdrift must make of them.
fn config_vars() -> Value {
    json!({
        "mxdrift_server_addresses": ["192.0.2.99"],
        "mxdrift_server_names": ["web1.hoster.test"],
        "mxdrift_trusted_mx": ["*.filter.example"],
        "mxdrift_severity": {"mail-switch-on": "warning"},
        "mxdrift_ignore": [{
            "domain": "twice.test",
            "rule": "mail-switch-on",
            "reason": "moves to web3 on Friday: ticket #4711",
            "until": "2099-12-31",
        }],
    })
}

/// The installed binary reads the written configuration as meant: the
/// severity override, the ignore with its reason and date, the address.
fn assert_config_applies(bin: &Path, config: &Path) {
    let out = run(Command::new(bin)
        .args(["audit", "--format", "json", "--fail-on", "never", "--root"])
        .arg(fixture("fleet/web1"))
        .arg("--zone-file")
        .arg(fixture("fleet/zones/test.zone"))
        .arg("--config")
        .arg(config));
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["server"]["addresses"]
            .as_array()
            .unwrap()
            .contains(&json!("192.0.2.99")),
        "{}",
        doc["server"]
    );
    let domain = |name: &str| {
        doc["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == name)
            .unwrap_or_else(|| panic!("{name} not in {doc}"))
            .clone()
    };
    let moved = domain("moved.test");
    assert_eq!(moved["findings"][0]["rule"], "mail-switch-on");
    assert_eq!(moved["findings"][0]["severity"], "warning");
    let twice = domain("twice.test");
    assert_eq!(
        twice["findings"][0]["ignored"],
        "moves to web3 on Friday: ticket #4711"
    );
    assert_eq!(twice["findings"][0]["ignored_until"], "2099-12-31");
    assert!(
        doc["warnings"].as_array().unwrap().is_empty(),
        "{}",
        doc["warnings"]
    );
}

/// systemd's own reading of the service with the role's drop-in: exactly
/// one command line, this one (as `systemd-analyze` prints it).
fn assert_systemd_command_line(unit: &Path, drop_in: &Path, work: &Path, expected: &str) {
    let Some(analyze) = require_tool("systemd-analyze") else {
        return;
    };
    // A drop-in's lines read as if appended to the unit: `ExecStart=` empties
    // the list in either.
    let dir = work.join("systemd-verify");
    std::fs::create_dir_all(&dir).unwrap();
    // Not named mxdrift.service: systemd-analyze would add the drop-ins of
    // this machine's mxdrift.service (those of the .deb test) to it.
    let combined = dir.join("mxdrift-role-test.service");
    let mut unit_text = std::fs::read_to_string(unit).unwrap();
    unit_text.push_str(&std::fs::read_to_string(drop_in).unwrap());
    std::fs::write(&combined, unit_text).unwrap();
    let out = run(Command::new(analyze)
        .arg("verify")
        .arg(&combined)
        .env("SYSTEMD_LOG_LEVEL", "debug"));
    assert!(
        out.status.success(),
        "systemd-analyze verify {}",
        describe(&out)
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let lines: Vec<&str> = all
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Command Line: "))
        .collect();
    assert_eq!(lines, [expected], "{all}");
}

/// The role with the tarball: everything under a scratch prefix, with the
/// configuration and the drop-ins; a second run changes nothing. The timer
/// is left alone: its units are in a directory systemd does not read.
#[test]
fn role_installs_the_tarball_configures_and_writes_the_drop_ins() {
    let Some(ansible_playbook) = require_tool("ansible-playbook") else {
        return;
    };
    if !require_root() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tarball = tarball(w);
    let mut vars = json!({
        "mxdrift_install_method": "tarball",
        "mxdrift_version": VERSION,
        "mxdrift_tarball_src": tarball,
        "mxdrift_prefix": w.join("prefix"),
        "mxdrift_stage_dir": w.join("stage"),
        "mxdrift_config_path": w.join("etc/mxdrift.yaml"),
        "mxdrift_systemd_dir": w.join("systemd"),
        "mxdrift_textfile_dir": w.join("textfile"),
        "mxdrift_timer_enabled": false,
        "mxdrift_systemd_running": false,
        "mxdrift_schedule": "*-*-* 04:30:00",
        "mxdrift_randomized_delay": "30m",
        "mxdrift_deadline": 300,
        "mxdrift_audit_args": tricky_audit_args(),
    });
    vars.as_object_mut()
        .unwrap()
        .extend(config_vars().as_object().unwrap().clone());
    // What a host has before mxdrift.
    std::fs::create_dir_all(w.join("etc")).unwrap();
    std::fs::create_dir_all(w.join("systemd")).unwrap();
    let inventory = write_inventory(w, vars, json!({"web1.hoster.test": {}}));
    let install = || {
        let out = run(ansible(&ansible_playbook, w)
            .arg("-i")
            .arg(&inventory)
            .arg(playbook("install.yml")));
        assert!(out.status.success(), "install.yml {}", describe(&out));
        text(&out.stdout)
    };
    let first = install();
    assert!(recap(&first)[0].2 > 0, "{first}");

    let bin = w.join("prefix/bin/mxdrift");
    let version = run(Command::new(&bin).arg("--version"));
    assert!(text(&version.stdout).starts_with(&format!("mxdrift {VERSION}")));
    assert_eq!(
        std::fs::metadata(&bin).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    for unit in ["mxdrift.service", "mxdrift.timer"] {
        assert!(w.join("systemd").join(unit).is_file(), "{unit}");
    }
    let config = w.join("etc/mxdrift.yaml");
    assert_config_applies(&bin, &config);

    let prefix_bin = bin.display().to_string();
    let config_s = config.display().to_string();
    let textfile = w.join("textfile/mxdrift.prom").display().to_string();
    let drop_in = w.join("systemd/mxdrift.service.d/ansible.conf");
    let written = std::fs::read_to_string(&drop_in).unwrap();
    let exec = format!(
        "ExecStart={prefix_bin} audit --format prometheus --fail-on never --deadline 300 \
         --config \"{config_s}\" --output \"{textfile}\" \"--nameserver\" \"192.0.2.1\" \
         \"--attempts\" \"2\" \"--trusted-mx\" \"50%% off $$HOME \\\"quoted\\\" back\\\\slash\""
    );
    assert!(
        written.lines().any(|l| l == exec),
        "{written}\nexpected the line\n{exec}"
    );
    assert!(written.contains("\nExecStart=\n"), "{written}");
    // `$$` is what systemd keeps until it starts the command (then `$`).
    assert_systemd_command_line(
        &w.join("systemd/mxdrift.service"),
        &drop_in,
        w,
        &format!(
            "{prefix_bin} audit --format prometheus --fail-on never --deadline 300 --config {config_s} \
             --output {textfile} --nameserver 192.0.2.1 --attempts 2 --trusted-mx \
             \"50% off \\$\\$HOME \\\"quoted\\\" back\\\\slash\""
        ),
    );
    let timer = std::fs::read_to_string(w.join("systemd/mxdrift.timer.d/ansible.conf")).unwrap();
    assert!(
        timer.contains("[Timer]\nOnCalendar=\nOnCalendar=*-*-* 04:30:00\nRandomizedDelaySec=30m\n"),
        "{timer}"
    );

    let second = install();
    assert_eq!(
        recap(&second)[0].2,
        0,
        "a second run changes nothing:\n{second}"
    );
}

/// An audit argument with a line break would add a line of its own to the
/// service's drop-in (`ExecStartPre=...` runs as root): the role refuses it
/// before it installs or writes anything.
#[test]
fn role_refuses_a_line_break_in_an_audit_argument() {
    let Some(ansible_playbook) = require_tool("ansible-playbook") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let inventory = write_inventory(
        w,
        json!({
            "mxdrift_install_method": "none",
            "mxdrift_config_path": w.join("mxdrift.yaml"),
            "mxdrift_systemd_dir": w.join("systemd"),
            "mxdrift_timer_enabled": false,
            "mxdrift_audit_args": ["--nameserver", "192.0.2.1\nExecStartPre=/bin/sh -c id"],
        }),
        json!({"web1.hoster.test": {}}),
    );
    let out = run(ansible(&ansible_playbook, w)
        .arg("-i")
        .arg(&inventory)
        .arg(playbook("install.yml")));
    assert_eq!(out.status.code(), Some(2), "install.yml {}", describe(&out));
    assert!(
        text(&out.stdout).contains("mxdrift role: a variable is wrong"),
        "{}",
        describe(&out)
    );
    assert!(!w.join("mxdrift.yaml").exists() && !w.join("systemd").exists());
}

/// Tests that change this machine's packages and systemd units: on CI's
/// fresh machine, or where the admin asks for them.
fn system_tests_allowed() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("MXDRIFT_SYSTEM_TESTS").as_deref() == Ok("1")
}

/// Undoes what the .deb test enabled and wrote, even when it fails.
struct SystemCleanup;

impl Drop for SystemCleanup {
    fn drop(&mut self) {
        for action in ["stop", "disable"] {
            let _ = Command::new("systemctl")
                .args([action, "mxdrift.timer"])
                .output();
        }
        for unit in ["mxdrift.service", "mxdrift.timer"] {
            let dir = Path::new("/etc/systemd/system").join(format!("{unit}.d"));
            let _ = std::fs::remove_file(dir.join("ansible.conf"));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The role with the .deb that CI built (scripts/dist, or cargo-deb in
/// scripts/deb-smoke) on this Debian machine: removed first, so the role
/// installs it for real; the timer enabled with systemctl; a second run
/// changes nothing; audit.yml then finds /usr/bin/mxdrift by itself.
#[test]
fn role_installs_the_deb_and_enables_the_timer() {
    if !system_tests_allowed() {
        skipped(
            "installs a package and enables a systemd timer on this machine: runs under CI=true or with MXDRIFT_SYSTEM_TESTS=1",
        );
        return;
    }
    let Some(ansible_playbook) = require_tool("ansible-playbook") else {
        return;
    };
    let (Some(dpkg), Some(systemctl)) = (require_tool("dpkg"), require_tool("systemctl")) else {
        return;
    };
    if !require_root() {
        return;
    }
    let file = format!("mxdrift_{VERSION}-1_amd64.deb");
    let candidates = [
        repo("target/dist").join(&file),
        repo("target/debian").join(&file),
    ];
    let Some(deb) = require(
        candidates.iter().find(|p| p.is_file()).cloned(),
        &format!(
            "no {file} in target/dist or target/debian: run scripts/dist or scripts/deb-smoke first"
        ),
    ) else {
        return;
    };
    let _cleanup = SystemCleanup;
    let removed = run(Command::new(&dpkg).args(["--remove", "mxdrift"]));
    assert!(
        removed.status.success(),
        "dpkg --remove {}",
        describe(&removed)
    );

    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut vars = json!({
        "mxdrift_install_method": "deb",
        "mxdrift_version": VERSION,
        "mxdrift_deb_src": deb,
        "mxdrift_stage_dir": w.join("stage"),
        // The admin's /etc/mxdrift.yaml stays as it is.
        "mxdrift_config_path": w.join("etc/mxdrift.yaml"),
        "mxdrift_audit_args": tricky_audit_args(),
    });
    vars.as_object_mut()
        .unwrap()
        .extend(config_vars().as_object().unwrap().clone());
    std::fs::create_dir_all(w.join("etc")).unwrap();
    let inventory = write_inventory(w, vars, json!({"localhost": {}}));
    let install = || {
        let out = run(ansible(&ansible_playbook, w)
            .arg("-i")
            .arg(&inventory)
            .arg(playbook("install.yml")));
        assert!(out.status.success(), "install.yml {}", describe(&out));
        text(&out.stdout)
    };
    let first = install();
    assert!(
        first.contains("TASK [mxdrift : Install the .deb]"),
        "{first}"
    );

    let status =
        run(Command::new("dpkg-query").args(["-W", "-f", "${Status} ${Version}", "mxdrift"]));
    assert_eq!(
        text(&status.stdout),
        format!("install ok installed {VERSION}-1")
    );
    let version = run(Command::new("/usr/bin/mxdrift").arg("--version"));
    assert!(text(&version.stdout).starts_with(&format!("mxdrift {VERSION}")));
    assert_config_applies(Path::new("/usr/bin/mxdrift"), &w.join("etc/mxdrift.yaml"));
    let enabled = run(Command::new(&systemctl).args(["is-enabled", "mxdrift.timer"]));
    assert_eq!(
        text(&enabled.stdout).trim(),
        "enabled",
        "{}",
        describe(&enabled)
    );
    let drop_in = Path::new("/etc/systemd/system/mxdrift.service.d/ansible.conf");
    let written = std::fs::read_to_string(drop_in).unwrap();
    assert!(
        written.contains("\nExecStart=/usr/bin/mxdrift audit --format prometheus "),
        "{written}"
    );
    assert_systemd_command_line(
        Path::new("/lib/systemd/system/mxdrift.service"),
        drop_in,
        w,
        &format!(
            "/usr/bin/mxdrift audit --format prometheus --fail-on never --deadline 600 --config {} \
             --output /var/lib/prometheus/node-exporter/mxdrift.prom --nameserver 192.0.2.1 --attempts 2 --trusted-mx \
             \"50% off \\$\\$HOME \\\"quoted\\\" back\\\\slash\"",
            w.join("etc/mxdrift.yaml").display()
        ),
    );

    let second = install();
    assert_eq!(
        recap(&second)[0].2,
        0,
        "a second run changes nothing:\n{second}"
    );

    // audit.yml finds the installed binary by itself (no mxdrift_bin).
    let audit_work = tempfile::tempdir().unwrap();
    let reports = audit_work.path().join("reports");
    let inventory = write_inventory(
        audit_work.path(),
        json!({"mxdrift_reports_dir": reports, "mxdrift_fleet_enabled": false}),
        json!({"web1.hoster.test": fleet_host_vars("web1")}),
    );
    let out = run(ansible(&ansible_playbook, audit_work.path())
        .arg("-i")
        .arg(&inventory)
        .arg(playbook("audit.yml")));
    assert!(out.status.success(), "audit.yml {}", describe(&out));
    let doc: Value =
        serde_json::from_slice(&std::fs::read(reports.join("web1.hoster.test.json")).unwrap())
            .unwrap();
    assert_eq!(rows(&doc), expected_rows("fleet/web1"));
}

#[test]
fn role_and_playbooks_pass_syntax_check_and_ansible_lint() {
    let (Some(ansible_playbook), Some(ansible_lint)) = (
        require_tool("ansible-playbook"),
        require_tool("ansible-lint"),
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = run(ansible(&ansible_playbook, work.path())
        .args(["-i", "localhost,", "--syntax-check"])
        .arg(playbook("install.yml"))
        .arg(playbook("audit.yml")));
    assert!(out.status.success(), "--syntax-check {}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("playbook: ")
            && stdout.contains("install.yml")
            && stdout.contains("audit.yml"),
        "{stdout}"
    );

    // packaging/ansible/.ansible-lint: the production profile, offline.
    let lint = |dir: &Path| {
        run(ansible(&ansible_lint, work.path()).current_dir(dir).args([
            "--nocolor",
            "install.yml",
            "audit.yml",
            "roles/mxdrift",
        ]))
    };
    let out = lint(&repo("packaging/ansible"));
    assert!(out.status.success(), "ansible-lint {}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("Passed with production profile: 0 failure(s), 0 warning(s)"),
        "{all}"
    );

    // The same lint fails a copy with a command that always reports a change.
    let copy = work.path().join("copy");
    crate::common::copy_tree(&repo("packaging/ansible"), &copy);
    let tasks = copy.join("roles/mxdrift/tasks/configure.yml");
    let mut tasks_text = std::fs::read_to_string(&tasks).unwrap();
    tasks_text.push_str(
        "\n- name: List the configuration directory\n  ansible.builtin.command: ls /etc\n",
    );
    std::fs::write(&tasks, tasks_text).unwrap();
    let out = lint(&copy);
    assert!(
        !out.status.success(),
        "ansible-lint passed a task without changed_when: {}",
        describe(&out)
    );
    assert!(
        format!("{}{}", text(&out.stdout), text(&out.stderr)).contains("no-changed-when"),
        "{}",
        describe(&out)
    );
}

/// The fleet's zone file is what NSD would serve (as every fixture's is:
/// testdata/README.md).
#[test]
fn fleet_zone_passes_nsd_checkzone() {
    let Some(checkzone) = require_tool("nsd-checkzone") else {
        return;
    };
    let out = run(Command::new(checkzone)
        .arg("test")
        .arg(fixture("fleet/zones/test.zone")));
    assert!(out.status.success(), "nsd-checkzone {}", describe(&out));
}
