//! What the unit tests and the integration tests build by hand: MX evidence,
//! known domains and small file trees.
//!
//! One file for both. The library's `test_support` module and the
//! integration tests' `common` module (tests/it/common/mod.rs) include it,
//! so it names the library's types only as `crate::inventory` and
//! `crate::resolve`, which tests/it/main.rs re-exports from `mxdrift`.

use std::path::Path;

use crate::inventory::{Declared, Delivery, DomainName, KnownDomain};
use crate::resolve::{DnsStatus, HostLookup, MxEvidence, MxHost};

/// The TTL of the hosts and answers built here.
pub const TTL: u32 = 300;

/// An MX host with these addresses (`HostLookup::NoAddress` without any).
pub fn host(preference: u16, name: &str, addresses: &[&str]) -> MxHost {
    MxHost {
        preference,
        host: name.to_string(),
        addresses: addresses
            .iter()
            .map(|a| a.parse().expect("test address"))
            .collect(),
        lookup: if addresses.is_empty() {
            HostLookup::NoAddress
        } else {
            HostLookup::Complete
        },
        cname: None,
        ip_literal: false,
        ttl: Some(TTL),
        problem: None,
    }
}

/// An answer with these MX hosts.
pub fn evidence(status: DnsStatus, mx: Vec<MxHost>) -> MxEvidence {
    MxEvidence {
        status,
        implicit_mx: false,
        mx,
        ttl: Some(TTL),
        dangling_cname: None,
        problem: None,
    }
}

/// An answer of MX records.
pub fn ok(mx: Vec<MxHost>) -> MxEvidence {
    evidence(DnsStatus::Ok, mx)
}

/// The evidence with another TTL, on the answer and on every host.
#[allow(dead_code)] // the integration tests' report_formats uses it
pub fn with_ttl(mut evidence: MxEvidence, ttl: u32) -> MxEvidence {
    evidence.ttl = Some(ttl);
    for host in &mut evidence.mx {
        host.ttl = Some(ttl);
    }
    evidence
}

/// A place declared through `via`, the contract's string for it.
pub fn declared(file: &str, line: u32, via: &str) -> Declared {
    Declared::new(file, line, via.parse().expect("a via mxdrift writes"))
}

/// A domain declared in one place, without panel facts.
pub fn known_domain(name: &str, delivery: Delivery, declared: Declared) -> KnownDomain {
    KnownDomain {
        name: DomainName::parse(name).expect("test domain name"),
        delivery,
        declared: vec![declared],
        facts: None,
    }
}

/// Write `contents` at `rel` below `root`, creating the directories. A
/// leading `/` is taken below `root` too (never the real file system).
pub fn write(root: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().expect("a file below the root"))
        .expect("create the test directories");
    std::fs::write(&path, contents).expect("write the test file");
}

/// A temporary directory holding these files (relative paths, text).
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    dir
}
