//! The portable binary that `scripts/dist` ships in the tarball, the .deb and
//! the .rpm: linked against glibc 2.28 so that it starts on EL 8, Debian 10,
//! Ubuntu 20.04 and everything newer. One symbol from a newer glibc is enough
//! for the dynamic loader of an older one to refuse the whole binary
//! ("version `GLIBC_2.34' not found"), and such symbols come in unnoticed:
//! glibc 2.34 gave every libpthread function a new version when it moved
//! them into libc, so any binary linked on a newer system needs 2.34.
//!
//! The binary is read out of the tarball in `target/dist/`, so `scripts/dist`
//! must have run (`.ci/run` runs it before the tests); without it these tests
//! are skipped, and fail under `CI=true`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{repo, require, require_tool, run_mxdrift, text};

/// The oldest glibc the binary supports: EL 8's (Debian 10 has the same).
const OLDEST_GLIBC: &[u32] = &[2, 28];

/// The libraries of glibc itself: the binary needs nothing else (no
/// libgcc_s, no libstdc++, no OpenSSL), so nothing else can be missing.
const GLIBC_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "ld-linux-x86-64.so.2",
];

/// `GLIBC_2.3.4` as [2, 3, 4]: compared part by part, 2.3.4 < 2.28.
fn glibc_version(token: &str) -> Option<Vec<u32>> {
    let digits = token.strip_prefix("GLIBC_")?;
    digits.split('.').map(|part| part.parse().ok()).collect()
}

fn dotted(version: &[u32]) -> String {
    version
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// Every versioned glibc symbol in `objdump -T` output, as (version,
/// symbol). The version stands in parentheses when it is not the symbol's
/// default one: `... DF *UND*  0000000000000000 (GLIBC_2.34) __libc_start_main`.
fn symbol_versions(objdump_t: &str) -> Vec<(Vec<u32>, String)> {
    objdump_t
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let version = fields
                .iter()
                .find_map(|f| glibc_version(f.trim_start_matches('(').trim_end_matches(')')))?;
            Some((version, fields.last()?.to_string()))
        })
        .collect()
}

/// `objdump -p`'s "Version References" (the ELF's .gnu.version_r: every
/// version the loader checks, whether or not a symbol names it), as
/// (library, version name).
fn version_references(objdump_p: &str) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    let mut library = None;
    let mut in_section = false;
    for line in objdump_p.lines() {
        if line.starts_with("Version References:") {
            in_section = true;
            continue;
        }
        if !in_section {
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            break;
        }
        if let Some(lib) = trimmed
            .strip_prefix("required from ")
            .and_then(|rest| rest.strip_suffix(':'))
        {
            library = Some(lib.to_string());
        } else if let (Some(lib), Some(name)) = (&library, trimmed.split_whitespace().last()) {
            refs.push((lib.clone(), name.to_string()));
        }
    }
    refs
}

/// `objdump -p`'s NEEDED entries: the shared libraries the loader opens.
fn needed_libraries(objdump_p: &str) -> Vec<String> {
    objdump_p
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next() == Some("NEEDED"))
                .then(|| fields.next().map(str::to_string))
                .flatten()
        })
        .collect()
}

/// What the binary needs that glibc 2.28 lacks: symbols and version
/// references above it, and references to anything but glibc's versions.
fn too_new(objdump_t: &str, objdump_p: &str) -> Vec<String> {
    let mut problems: Vec<String> = symbol_versions(objdump_t)
        .into_iter()
        .filter(|(version, _)| version.as_slice() > OLDEST_GLIBC)
        .map(|(version, symbol)| format!("{symbol}@GLIBC_{}", dotted(&version)))
        .collect();
    for (library, name) in version_references(objdump_p) {
        match glibc_version(&name) {
            Some(version) if version.as_slice() <= OLDEST_GLIBC => {}
            _ => problems.push(format!("{name} from {library}")),
        }
    }
    problems
}

/// The binary inside `target/dist/`'s tarball, unpacked into `dir`.
fn portable_binary(dir: &tempfile::TempDir) -> Option<PathBuf> {
    let name = format!("mxdrift-{}-x86_64-linux", env!("CARGO_PKG_VERSION"));
    let tarball = repo("target/dist").join(format!("{name}.tar.gz"));
    let tarball = require(
        tarball.is_file().then_some(tarball),
        &format!("target/dist/{name}.tar.gz is not built (run scripts/dist)"),
    )?;
    let tar = require_tool("tar")?;
    let out = Command::new(tar)
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.path())
        .arg(format!("{name}/mxdrift"))
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar -xzf {}: {}",
        tarball.display(),
        text(&out.stderr)
    );
    Some(dir.path().join(name).join("mxdrift"))
}

fn objdump(flag: &str, binary: &std::path::Path) -> Option<String> {
    let objdump = require_tool("objdump")?;
    let out = Command::new(objdump)
        .arg(flag)
        .arg(binary)
        .output()
        .expect("run objdump");
    assert!(
        out.status.success(),
        "objdump {flag} {}: {}",
        binary.display(),
        text(&out.stderr)
    );
    Some(text(&out.stdout))
}

#[test]
fn portable_binary_needs_no_glibc_newer_than_2_28() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(binary) = portable_binary(&dir) else {
        return;
    };
    let (Some(dynamic_symbols), Some(headers)) = (objdump("-T", &binary), objdump("-p", &binary))
    else {
        return;
    };
    assert!(
        headers.contains("file format elf64-x86-64"),
        "not an x86_64 ELF: {headers}"
    );

    let needed = needed_libraries(&headers);
    assert!(
        needed.iter().any(|lib| lib == "libc.so.6"),
        "not dynamically linked against glibc: {needed:?}"
    );
    // The check reads what is there: dozens of versioned symbols and the
    // version references of libc.
    let symbols = symbol_versions(&dynamic_symbols);
    assert!(
        symbols.len() > 50,
        "only {} versioned glibc symbols in objdump -T: {dynamic_symbols}",
        symbols.len()
    );
    assert!(
        version_references(&headers)
            .iter()
            .any(|(lib, name)| lib == "libc.so.6" && name.starts_with("GLIBC_")),
        "no version references to libc.so.6: {headers}"
    );

    let mut problems = too_new(&dynamic_symbols, &headers);
    problems.extend(
        needed
            .iter()
            .filter(|lib| !GLIBC_LIBRARIES.contains(&lib.as_str()))
            .map(|lib| format!("{lib}, not a library of glibc")),
    );
    assert!(
        problems.is_empty(),
        "{} needs more than glibc {}: {problems:?}",
        binary.display(),
        dotted(OLDEST_GLIBC)
    );
}

#[test]
fn portable_binary_is_stripped_and_names_its_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(binary) = portable_binary(&dir) else {
        return;
    };
    let Some(symbols) = objdump("-t", &binary) else {
        return;
    };
    assert!(
        symbols.contains("no symbols"),
        "the symbol table is still there: {}",
        symbols.lines().take(8).collect::<Vec<_>>().join("\n")
    );

    let out = Command::new(&binary)
        .arg("--version")
        .output()
        .expect("run the portable binary");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let commit = line
        .trim_end()
        .strip_prefix(&format!("mxdrift {} (commit ", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version printed {line:?}"));
    let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
    assert!(
        hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "--version names no git commit: {line:?}"
    );
}

#[test]
fn version_names_a_commit_or_says_it_is_unknown() {
    let out = run_mxdrift(["--version"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.starts_with(&format!("mxdrift {} (commit ", env!("CARGO_PKG_VERSION")))
            && line.trim_end().ends_with(')'),
        "{line:?}"
    );
}

/// The check on objdump's own output of a binary linked against glibc 2.36
/// (this is how `__libc_start_main` and the libpthread functions look there).
#[test]
fn the_check_finds_symbols_of_a_newer_glibc() {
    let dynamic_symbols = "
target/debug/mxdrift:     file format elf64-x86-64

DYNAMIC SYMBOL TABLE:
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.34) __libc_start_main
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.2.5) memmove
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.3.4) __memcpy_chk
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.34) pthread_key_create
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.28) statx
0000000000000000  w   D  *UND*\t0000000000000000  Base        __gmon_start__
0000000000000000      DO *UND*\t0000000000000000  GLIBC_2.2.5 environ
";
    let headers = "
Version References:
  required from libc.so.6:
    0x069691b4 0x00 07 GLIBC_2.34
    0x06969188 0x00 05 GLIBC_2.28
    0x09691a75 0x00 02 GLIBC_2.2.5
  required from libgcc_s.so.1:
    0x0b792650 0x00 04 GCC_3.0

";
    assert_eq!(symbol_versions(dynamic_symbols).len(), 6);
    assert_eq!(
        too_new(dynamic_symbols, headers),
        [
            "__libc_start_main@GLIBC_2.34",
            "pthread_key_create@GLIBC_2.34",
            "GLIBC_2.34 from libc.so.6",
            "GCC_3.0 from libgcc_s.so.1",
        ]
    );
    // 2.28 itself is fine, and versions compare part by part.
    let fine = "0 DF *UND* 0 (GLIBC_2.28) statx\n0 DF *UND* 0 (GLIBC_2.3.4) __memcpy_chk\n";
    assert!(too_new(fine, "").is_empty());
    assert_eq!(glibc_version("GLIBC_2.3.4"), Some(vec![2, 3, 4]));
    assert!(glibc_version("GLIBC_2.3.4").expect("parses").as_slice() < OLDEST_GLIBC);
    assert_eq!(glibc_version("GLIBCXX_3.4"), None);
}
