//! Root hints: where iterative resolution starts. The built-in ones are
//! IANA's `named.root`; `--root-hints FILE` replaces them (a private DNS
//! tree, the tests' loopback tree).
//!
//! The format is a subset of a master file: `OWNER [TTL] [IN] TYPE DATA`
//! lines, `;` comments. Only `. NS name` and `name A|AAAA address` matter;
//! an address line for a name no NS line names is ignored, and an NS name
//! without any address line is an error (hints must say where to go).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;

/// IANA's root hints, compiled in.
const BUILT_IN: &str = include_str!("named.root");

/// One root server: its name and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RootServer {
    pub name: Name,
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum RootHintsError {
    #[error("cannot read root hints {}: {source}", file.display())]
    Unreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: bad root hints: {message}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", file.display())]
    Incomplete { file: PathBuf, message: String },
}

/// The built-in hints.
pub(crate) fn built_in() -> Vec<RootServer> {
    // The embedded file is checked by a unit test.
    parse(BUILT_IN, Path::new("(built-in named.root)")).unwrap_or_default()
}

/// Read hints from a file (read in full: a root hints file is a few KiB,
/// and one larger than 1 MiB is refused rather than trusted).
pub(crate) fn load(file: &Path) -> Result<Vec<RootServer>, RootHintsError> {
    const LIMIT: u64 = 1 << 20;
    let unreadable = |source| RootHintsError::Unreadable {
        file: file.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(file).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(RootHintsError::Incomplete {
            file: file.to_path_buf(),
            message: "not a regular file".to_string(),
        });
    }
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)
        .map_err(unreadable)?
        .take(LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > LIMIT {
        return Err(RootHintsError::Incomplete {
            file: file.to_path_buf(),
            message: "larger than 1 MiB: not a root hints file".to_string(),
        });
    }
    parse(&text, file)
}

pub(crate) fn parse(text: &str, file: &Path) -> Result<Vec<RootServer>, RootHintsError> {
    let mut servers: Vec<RootServer> = Vec::new();
    let mut addresses: Vec<(Name, IpAddr)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let syntax = |message: String| RootHintsError::Syntax {
            file: file.to_path_buf(),
            line,
            message,
        };
        let content = raw.split(';').next().unwrap_or_default().trim();
        if content.is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let Some((owner, rest)) = fields.split_first() else {
            continue;
        };
        // Skip the optional TTL and class.
        let mut rest = rest;
        if let Some((first, tail)) = rest.split_first()
            && first.bytes().all(|b| b.is_ascii_digit())
        {
            rest = tail;
        }
        if let Some((first, tail)) = rest.split_first()
            && first.eq_ignore_ascii_case("IN")
        {
            rest = tail;
        }
        let [rtype, data] = rest else {
            return Err(syntax(format!(
                "expected `OWNER [TTL] [IN] TYPE DATA`, found `{content}`"
            )));
        };
        let owner_name = absolute(owner).map_err(&syntax)?;
        match rtype.to_ascii_uppercase().as_str() {
            "NS" => {
                if !owner_name.is_root() {
                    return Err(syntax(format!(
                        "an NS record for `{owner}`: root hints name the root's servers only"
                    )));
                }
                let name = absolute(data).map_err(&syntax)?;
                if !servers.iter().any(|s| s.name == name) {
                    servers.push(RootServer {
                        name,
                        addresses: Vec::new(),
                    });
                }
            }
            "A" | "AAAA" => {
                let ip: IpAddr = data
                    .parse()
                    .map_err(|_| syntax(format!("`{data}` is not an IP address")))?;
                let family_ok = matches!(
                    (rtype.to_ascii_uppercase().as_str(), ip),
                    ("A", IpAddr::V4(_)) | ("AAAA", IpAddr::V6(_))
                );
                if !family_ok {
                    return Err(syntax(format!("`{data}` is not an {rtype} address")));
                }
                addresses.push((owner_name, ip));
            }
            other => {
                return Err(syntax(format!(
                    "record type {other}: root hints hold NS, A and AAAA records only"
                )));
            }
        }
    }
    for (name, ip) in addresses {
        if let Some(server) = servers.iter_mut().find(|s| s.name == name)
            && !server.addresses.contains(&ip)
        {
            server.addresses.push(ip);
        }
    }
    if servers.is_empty() {
        return Err(RootHintsError::Incomplete {
            file: file.to_path_buf(),
            message: "no `. NS` record: no root server named".to_string(),
        });
    }
    if let Some(bare) = servers.iter().find(|s| s.addresses.is_empty()) {
        return Err(RootHintsError::Incomplete {
            file: file.to_path_buf(),
            message: format!(
                "root server {} has no A or AAAA line",
                super::super::answer::display_name(&bare.name)
            ),
        });
    }
    Ok(servers)
}

fn absolute(text: &str) -> Result<Name, String> {
    let mut name =
        Name::from_ascii(text).map_err(|err| format!("`{text}` is not a domain name: {err}"))?;
    name.set_fqdn(true);
    Ok(super::super::answer::normalize(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_hints_are_the_thirteen_root_servers() {
        let servers = parse(BUILT_IN, Path::new("named.root")).unwrap();
        assert_eq!(servers.len(), 13);
        assert!(servers.iter().all(|s| s.addresses.len() == 2));
        assert_eq!(
            servers[0].addresses[0],
            "198.41.0.4".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(". NS a.root.test.\nbogus\n", Path::new("h")).unwrap_err();
        assert!(e.to_string().starts_with("h:2: bad root hints"), "{e}");
        let e = parse(". NS a.root.test.\n", Path::new("h")).unwrap_err();
        assert!(e.to_string().contains("no A or AAAA line"), "{e}");
        let e = parse("a.root.test. A 192.0.2.1\n", Path::new("h")).unwrap_err();
        assert!(e.to_string().contains("no root server"), "{e}");
        let e = parse(". NS a.\na. A 2001:db8::1\n", Path::new("h")).unwrap_err();
        assert!(e.to_string().contains("h:2:"), "{e}");
    }
}
