//! The panel round trip: `mxdrift fix --commands` on the Plesk and cPanel
//! fixtures, run against stub `plesk` and `uapi` programs that do to the
//! fixture's files what the real panel does when it switches a domain's mail
//! off (Plesk rewrites its Postfix maps; cPanel moves the domain from
//! `localdomains` to `remotedomains`, or to `secondarymx` for a backup MX).
//! A new audit then shows every fixed domain as no longer local, nothing
//! else changed, and only the deliberately left findings remain.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::fix::install_program;
use crate::common::report::{audit_json, states};
use crate::common::{copy_fixture, mxdrift};

/// Rules whose findings `fix` remediates when the evidence is conclusive.
const FIXABLE: [&str; 4] = [
    "mail-switch-on",
    "domain-not-found",
    "null-mx-delivered-locally",
    "backup-mx-delivers-locally",
];

const PLESK_STUB: &str = r#"#!/bin/sh
# plesk bin site|subscription --update DOMAIN -mail_service false
# plesk bin domalias --update ALIAS -mail false
# Like Plesk, `site` and `subscription` fail on a name that is no site
# (an alias has no hosting directory), and `domalias` fails on a site.
set -eu
hosted() { [ -d "$STUB_ROOT/var/www/vhosts/system/$1" ]; }
case "$1 $2 $3 $5 $6" in
"bin site --update -mail_service false" | "bin subscription --update -mail_service false")
    hosted "$4" || { echo "Unable to find domain $4" >&2; exit 1; } ;;
"bin domalias --update -mail false")
    hosted "$4" && { echo "$4 is not a domain alias" >&2; exit 1; } ;;
*) echo "unexpected: $*" >&2; exit 64 ;;
esac
echo "$4" >> "$STUB_LOG"
maps="$STUB_ROOT/var/spool/postfix/plesk"
# Plesk regenerates its maps without the domain (keys compare case-insensitively).
awk -v d="$4" 'tolower($1) != tolower(d)' "$maps/virtual_domains" > "$maps/virtual_domains.new"
mv "$maps/virtual_domains.new" "$maps/virtual_domains"
"#;

const UAPI_STUB: &str = r#"#!/bin/sh
# uapi --user=U Email set_always_accept domain=D alwaysaccept=remote|secondary
# Edits the files as cPanel's Cpanel::StringFunc::File::remlinefile does:
# a line goes when it is blanks, the domain exactly (case-sensitive), then
# a colon or the end of the line; a CR or capitals keep it.
set -eu
[ "$2 $3" = "Email set_always_accept" ] || { echo "unexpected: $*" >&2; exit 64; }
case "$1" in
--user=nobody | --user=root) echo "uapi cannot run as ${1#--user=}" >&2; exit 1 ;;
esac
d=${4#domain=}; mode=${5#alwaysaccept=}
echo "$d" >> "$STUB_LOG"
etc="$STUB_ROOT/etc"
awk -v d="$d" '{
    line = $0; sub(/^[ \t]*/, "", line)
    if (index(line, d) == 1) {
        rest = substr(line, length(d) + 1)
        if (rest == "" || substr(rest, 1, 1) == ":") next
    }
    print
}' "$etc/localdomains" > "$etc/localdomains.new"
mv "$etc/localdomains.new" "$etc/localdomains"
grep -qx "$d" "$etc/remotedomains" || echo "$d" >> "$etc/remotedomains"
if [ "$mode" = secondary ]; then echo "$d" >> "$etc/secondarymx"; fi
"#;

const NOOP_STUB: &str = "#!/bin/sh\nexit 0\n";

fn stub(dir: &Path, name: &str, text: &str) {
    install_program(&dir.join(name), text);
}

fn dns_args(root: &Path) -> Vec<String> {
    vec![
        "--root".into(),
        root.display().to_string(),
        "--zone-file".into(),
        root.join("zones/test.zone").display().to_string(),
        "--server-ip".into(),
        "203.0.113.10".into(),
    ]
}

fn round_trip(fixture: &str, left_fixable: &[&str]) {
    let root = copy_fixture(fixture);
    let args = dns_args(root.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = audit_json(&args);

    let out = mxdrift()
        .arg("fix")
        .arg("--commands")
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = root.path().join("fix.sh");
    fs::write(&script, &out.stdout).unwrap();

    let bin = tempfile::tempdir().unwrap();
    stub(bin.path(), "plesk", PLESK_STUB);
    stub(bin.path(), "uapi", UAPI_STUB);
    for name in ["postmap", "postfix"] {
        stub(bin.path(), name, NOOP_STUB);
    }
    let log = root.path().join("stub.log");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("sh")
        .arg(&script)
        .env("PATH", path)
        .env("STUB_ROOT", root.path())
        .env("STUB_LOG", &log)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{fixture}: script failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fixed: Vec<String> = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!fixed.is_empty(), "{fixture}: the script changed nothing");

    let after = audit_json(&args);
    let (was, now) = (states(&before), states(&after));
    for (domain, (delivery, declared)) in &was {
        let now_state = now.get(domain);
        if fixed.contains(domain) {
            assert_eq!(delivery, "local", "{fixture}: {domain} was fixed");
            let now_delivery = now_state.map(|s| s.0.as_str()).unwrap_or("gone");
            assert_ne!(
                now_delivery, "local",
                "{fixture}: {domain} is still local after the fix"
            );
        } else {
            assert_eq!(
                now_state,
                Some(&(delivery.clone(), declared.clone())),
                "{fixture}: {domain} changed"
            );
        }
    }
    // Clean, except what was deliberately left.
    let remaining: Vec<String> = after["domains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| {
            d["findings"].as_array().unwrap().iter().map(move |f| {
                format!(
                    "{} {}",
                    d["domain"].as_str().unwrap(),
                    f["rule"].as_str().unwrap()
                )
            })
        })
        .filter(|f| FIXABLE.iter().any(|rule| f.ends_with(rule)))
        .collect();
    assert_eq!(
        remaining, left_fixable,
        "{fixture}: fixable findings left after the fix"
    );
}

#[test]
fn plesk_fix_round_trip() {
    // Plesk has no backup-MX switch, and a mail domain that is neither a
    // site nor a known alias gets no command that would fail: both are
    // left for a human. The alias is switched off with `domalias`.
    round_trip(
        "plesk/postfix",
        &[
            "backup.test backup-mx-delivers-locally",
            "mailonly-alias.test mail-switch-on",
        ],
    );
}

#[test]
fn cpanel_fix_round_trip() {
    round_trip("cpanel/basic", &[]);
}

#[test]
fn cpanel_routing_fix_round_trip() {
    // What cPanel says to leave stays as it is: forced-local routing, a
    // system domain, a line cPanel cannot edit, and the addon's internal
    // subdomain (reported at info). The manual MX redirect is a relay.
    round_trip(
        "cpanel/routing",
        &[
            "addon.main.test domain-not-found",
            "crlf.test mail-switch-on",
            "forced.test mail-switch-on",
            "system-dom.test mail-switch-on",
        ],
    );
}
