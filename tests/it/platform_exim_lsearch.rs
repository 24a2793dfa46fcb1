//! Differential test: Exim list files (cPanel's `etc/localdomains`,
//! DirectAdmin's `etc/virtual/domains`) generated with every form a key
//! can take — trailing dots, CRs, leading and trailing blanks, tabs and
//! other C white space, comments, colons, quotes and escapes, case, IDN,
//! NUL bytes, lines longer than Exim's buffer — read by mxdrift and by the
//! real Exim (`exim4 -C FILE -be` with
//! `${if match_domain{D}{+local_domains}{yes}{no}}`). For every candidate
//! domain, mxdrift's `local` must be exactly Exim's `yes`.
//!
//! Needs `scripts/fetch-exim` (see tests/it/common/exim_oracle.rs).
//! Reproduce a failure with `MXDRIFT_EXIM_SEED=<seed> cargo test
//! platform_exim_lsearch`;
//! the failing tree is kept and printed.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::exim_oracle::Exim;
use crate::common::rng::{Rng, seed};
use mxdrift::inventory::{Delivery, DomainName, Platform};
use mxdrift::sources::{ConfigRoot, PlatformChoice, SourceOptions, read_inventory};

const CONFIGS: usize = 200;
const DEFAULT_SEED: u64 = 0x6578_696d_6c73_6561;

/// The names the generated lists are made of: as written (ASCII or
/// UTF-8), and the A-label mail is addressed to.
const POOL: &[&str] = &[
    "shop.test",
    "moved.test",
    "trailing-dot.test",
    "crlf.test",
    "lead.test",
    "quoted.test",
    "colon.test",
    "case.test",
    "bücher.test",
    "münchen.test",
    "xn--caf-dma.test",
    "long.test",
];

fn a_label(name: &str) -> String {
    DomainName::parse(name).unwrap().to_string()
}

/// Random ASCII case.
fn mixed_case(rng: &mut Rng, name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii() && rng.chance(50) {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// The name inside double quotes, some characters written as Exim
/// escapes (`\x2e`, `\056`, `\\`-quoted).
fn quoted(rng: &mut Rng, name: &str) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in name.as_bytes() {
        match rng.below(6) {
            0 => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            1 => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            2 if b.is_ascii_alphabetic() => out.extend_from_slice(&[b'\\', b]),
            _ => out.push(b),
        }
    }
    if !rng.chance(10) {
        out.push(b'"');
    }
    out
}

/// One line (with its end) for `name`, in one of the forms a key takes.
fn line_for(rng: &mut Rng, name: &str) -> Vec<u8> {
    let name = if rng.chance(30) {
        mixed_case(rng, name)
    } else {
        name.to_string()
    };
    // The A-label of an IDN, written out, sometimes in upper case.
    let name = if !name.is_ascii() && rng.chance(40) {
        let a = a_label(&name);
        if rng.chance(50) { a.to_uppercase() } else { a }
    } else {
        name
    };
    let blank = |rng: &mut Rng| -> &'static [u8] {
        [&b" "[..], b"\t", b"  \t", b"\x0b", b"\x0c", b"\r"][rng.below(6)]
    };
    let mut line: Vec<u8> = Vec::new();
    match rng.below(17) {
        0..=3 => line.extend_from_slice(name.as_bytes()),
        4 => line.extend_from_slice(format!("{name}.").as_bytes()),
        5 => {
            line.extend_from_slice(blank(rng));
            line.extend_from_slice(name.as_bytes());
        }
        6 => {
            line.extend_from_slice(name.as_bytes());
            line.extend_from_slice(blank(rng));
        }
        7 => {
            let suffix = [
                ": owner", ":", " :owner", "\towner", " owner", "::x", ": \"q\"",
            ][rng.below(7)];
            line.extend_from_slice(format!("{name}{suffix}").as_bytes());
        }
        8 => line.extend_from_slice(&quoted(rng, &name)),
        9 => {
            let mut q = quoted(rng, &name);
            q.extend_from_slice(b": owner");
            line.extend_from_slice(&q);
        }
        10 => line.extend_from_slice(format!("#{name}").as_bytes()),
        11 => line.extend_from_slice(format!("{name}#comment").as_bytes()),
        12 => {
            // A NUL hides the newline: the next line is lost to Exim.
            line.extend_from_slice(format!("{name}\0junk").as_bytes());
        }
        13 => {
            // Longer than Exim's 4096-byte buffer.
            line.extend_from_slice(name.as_bytes());
            line.extend(std::iter::repeat_n(b' ', 4090 + rng.below(20)));
            line.extend_from_slice(b"data");
        }
        14 => {
            line.extend(std::iter::repeat_n(b'x', 4090 + rng.below(20)));
            line.push(b' ');
            line.extend_from_slice(name.as_bytes());
        }
        15 => line.extend_from_slice(format!("\"{name} x\"").as_bytes()),
        _ => line.extend_from_slice(format!("{name}\r").as_bytes()),
    }
    let end: &[u8] = [&b"\n"[..], b"\r\n", b"\n", b"\n"][rng.below(4)];
    line.extend_from_slice(end);
    line
}

/// Lines that are no entries: blank, white space only, comments, `*`.
fn filler(rng: &mut Rng) -> Vec<u8> {
    [
        &b"\n"[..],
        b"   \n",
        b"\t\r\n",
        b"# comment\n",
        b"  # indented comment\n",
        b"*: nobody\n",
        b"  continued data\n",
        b":no-key\n",
    ][rng.below(8)]
    .to_vec()
}

fn generate(rng: &mut Rng) -> Vec<u8> {
    let mut text = Vec::new();
    for _ in 0..(3 + rng.below(20)) {
        if rng.chance(20) {
            text.extend(filler(rng));
        } else {
            let name = POOL[rng.below(POOL.len())];
            text.extend(line_for(rng, name));
        }
    }
    if rng.chance(25) && text.last() == Some(&b'\n') {
        // A last line without its newline.
        text.pop();
    }
    text
}

/// One hand-written list with every form at least once.
fn every_form() -> Vec<u8> {
    let mut text = Vec::new();
    for line in [
        &b"shop.test\n"[..],
        b"trailing-dot.test.\n",
        b"crlf.test\r\n",
        b"  lead.test\n",
        b"\"quoted.test\": owner\n",
        b"colon.test:owner\n",
        b"CaSe.TeSt\t\n",
        "bücher.test\n".as_bytes(),
        b"XN--MNCHEN-3YA.test\n",
        b"\"xn\\x2d-caf-dma\\056test\n",
        b"moved.test\0junk\n",
        b"long.test\n",
    ] {
        text.extend_from_slice(line);
    }
    text
}

/// The domains mxdrift calls local for a root holding `list` as the
/// platform's local domain list.
fn mxdrift_local(root: &Path, platform: Platform) -> BTreeSet<String> {
    let opts = SourceOptions {
        root: ConfigRoot::new(root),
        platform: PlatformChoice::Exactly(platform),
        domains_file: None,
        hostname: None,
    };
    let inventory = read_inventory(&opts).unwrap_or_else(|e| panic!("mxdrift: {e}"));
    inventory
        .domains
        .iter()
        .filter(|d| d.delivery == Delivery::Local)
        .map(|d| d.name.to_string())
        .collect()
}

/// Write the list as the platform keeps it; returns its path.
fn write_tree(root: &Path, platform: Platform, list: &[u8]) -> std::path::PathBuf {
    let (list_path, owners) = match platform {
        Platform::Cpanel => ("etc/localdomains", "etc/userdomains"),
        _ => ("etc/virtual/domains", "etc/virtual/domainowners"),
    };
    let path = root.join(list_path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, list).unwrap();
    std::fs::write(root.join(owners), "").unwrap();
    path
}

fn shown(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string().replace("\\n", "\\n\n")
}

#[test]
fn exim_list_files_are_read_exactly_as_exim_reads_them() {
    let Some(exim) = Exim::find() else {
        return;
    };
    let seed = seed("MXDRIFT_EXIM_SEED", DEFAULT_SEED);
    let mut rng = Rng(seed);
    let candidates: Vec<String> = POOL.iter().map(|n| a_label(n)).collect();
    let mut yes_seen = 0;
    let mut no_seen = 0;
    for index in 0..CONFIGS {
        let list = if index == 0 {
            every_form()
        } else {
            generate(&mut rng)
        };
        let platform = if index % 2 == 0 {
            Platform::Cpanel
        } else {
            Platform::Directadmin
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let path = write_tree(&root, platform, &list);
        let answers = exim.local_domains(
            &dir.path().join("exim"),
            &format!("lsearch;{}", path.display()),
            &candidates,
        );
        let exim_local: BTreeSet<String> = candidates
            .iter()
            .zip(&answers)
            .filter(|(_, yes)| **yes)
            .map(|(d, _)| d.clone())
            .collect();
        yes_seen += exim_local.len();
        no_seen += candidates.len() - exim_local.len();
        let ours = mxdrift_local(&root, platform);
        if ours != exim_local {
            let kept = dir.keep();
            panic!(
                "seed {seed}, list {index} ({platform:?}, kept in {}):\n{}\nExim says local: {exim_local:?}\nmxdrift says local: {ours:?}",
                kept.display(),
                shown(&list)
            );
        }
    }
    // Both answers occur, or the comparison proves little.
    assert!(
        yes_seen > 100 && no_seen > 100,
        "yes {yes_seen}, no {no_seen}"
    );
}

#[test]
fn every_form_gives_the_answers_exim_gave_when_this_was_written() {
    // The hand-written list, checked against what Exim 4.96 answered, so
    // that the expectations stay visible even where Exim is not installed.
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), Platform::Cpanel, &every_form());
    let local = mxdrift_local(dir.path(), Platform::Cpanel);
    let want: BTreeSet<String> = [
        "shop.test",
        "crlf.test",
        "quoted.test",
        "colon.test",
        "case.test",
        "xn--mnchen-3ya.test",
        "xn--caf-dma.test",
        "moved.test",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(local, want);
}
