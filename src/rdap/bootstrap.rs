//! IANA's RDAP bootstrap for DNS (RFC 9224): which registry's RDAP service
//! answers for which top-level domain.
//!
//! What a newcomer gets wrong:
//! - An entry maps *labels* to base URLs, and the longest matching label
//!   sequence wins (`co.uk` before `uk`); IANA's file holds TLDs only, but a
//!   file given with `--rdap-bootstrap` may hold more.
//! - Base URLs may lack the trailing `/`; the query is `<base>domain/<name>`
//!   with exactly one `/` between. HTTPS is preferred when an entry lists
//!   both schemes; plain `http://` is accepted only for a loopback host (a
//!   registry's answer travels in the clear otherwise).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

/// The snapshot built into the binary (see README, "RDAP": what it holds).
pub const BUILT_IN: &str = include_str!("dns-bootstrap.json");

/// One RDAP service's base URL, checked: `https://`, or `http://` to a
/// loopback host, ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The server the service runs on (`scheme://host:port`): services of
    /// one registry often share a host (Verisign's `.com` and `.net`), and
    /// the limit of requests in flight is the host's.
    pub fn server(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(url) => format!(
                "{}://{}:{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.port_or_known_default().unwrap_or(0)
            ),
            Err(_) => self.0.clone(),
        }
    }

    /// The lookup URL of `name` (an A-label domain name).
    pub fn domain_query(&self, name: &str) -> String {
        format!("{}domain/{name}", self.0)
    }

    /// Parse a base URL; `None` when its scheme or host is not allowed.
    pub fn parse(text: &str) -> Option<ServiceUrl> {
        let url = reqwest::Url::parse(text.trim()).ok()?;
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return None;
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => return None,
        }
        let mut base = url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Some(ServiceUrl(base))
    }
}

/// Is the URL's host a loopback address or `localhost`?
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// The bootstrap as read: label sequence (lower case, dot-joined) to the
/// preferred service.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    services: BTreeMap<String, ServiceUrl>,
    /// `publication` of the file, for notes.
    pub publication: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{file}: not an RDAP bootstrap file (RFC 9224): {message}")]
    Parse { file: String, message: String },
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    publication: String,
    services: Vec<(Vec<String>, Vec<String>)>,
}

impl Bootstrap {
    /// The snapshot built in.
    pub fn built_in() -> Result<Bootstrap, BootstrapError> {
        Bootstrap::parse(BUILT_IN, "the built-in RDAP bootstrap")
    }

    /// Parse a `dns.json`; `shown` names it in errors. Entries whose URLs
    /// are all refused (plain HTTP to a remote host) are left out.
    pub fn parse(text: &str, shown: &str) -> Result<Bootstrap, BootstrapError> {
        let file: File = serde_json::from_str(text).map_err(|e| BootstrapError::Parse {
            file: shown.to_string(),
            message: format!("line {}: {e}", e.line()),
        })?;
        let mut services = BTreeMap::new();
        for (labels, urls) in file.services {
            let parsed: Vec<ServiceUrl> =
                urls.iter().filter_map(|u| ServiceUrl::parse(u)).collect();
            let preferred = parsed
                .iter()
                .find(|u| u.as_str().starts_with("https://"))
                .or_else(|| parsed.first());
            let Some(preferred) = preferred else {
                continue;
            };
            for label in labels {
                let key = label.trim().trim_end_matches('.').to_ascii_lowercase();
                if !key.is_empty() {
                    services.entry(key).or_insert_with(|| preferred.clone());
                }
            }
        }
        Ok(Bootstrap {
            services,
            publication: file.publication,
        })
    }

    /// The service for `name`: the entry of its longest matching label
    /// suffix.
    pub fn service_for(&self, name: &str) -> Option<&ServiceUrl> {
        let name = name.to_ascii_lowercase();
        let mut rest = name.as_str();
        loop {
            if let Some(url) = self.services.get(rest) {
                return Some(url);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_snapshot_parses_and_knows_com() {
        let b = Bootstrap::built_in().unwrap();
        assert_eq!(
            b.service_for("example.com")
                .unwrap()
                .domain_query("example.com"),
            "https://rdap.verisign.com/com/v1/domain/example.com"
        );
        assert!(b.service_for("example.invalid").is_none());
        let com = b.service_for("a.com").unwrap().server();
        assert_eq!(com, "https://rdap.verisign.com:443");
        assert_eq!(
            b.service_for("a.net").unwrap().server(),
            com,
            "one server, one limit"
        );
    }

    #[test]
    fn https_is_preferred_and_plain_http_only_for_loopback() {
        let text = r#"{"version":"1.0","publication":"2026-01-01T00:00:00Z","services":[
            [["a"],["http://rdap.a.example/","https://rdap.a.example/v1"]],
            [["b"],["http://rdap.b.example/"]],
            [["test","co.test"],["http://127.0.0.1:8080/rdap"]]]}"#;
        let b = Bootstrap::parse(text, "x").unwrap();
        assert_eq!(
            b.service_for("x.a").unwrap().as_str(),
            "https://rdap.a.example/v1/"
        );
        assert!(
            b.service_for("x.b").is_none(),
            "plain http to a remote host"
        );
        assert_eq!(
            b.service_for("shop.CO.test")
                .unwrap()
                .domain_query("shop.co.test"),
            "http://127.0.0.1:8080/rdap/domain/shop.co.test"
        );
    }

    #[test]
    fn a_broken_file_is_named() {
        let e = Bootstrap::parse("{\"services\": 3}", "/etc/dns.json").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/dns.json: not an RDAP bootstrap file"),
            "{e}"
        );
    }
}
