//! `DomainName`: a validated, lower-case A-label domain name.
//!
//! Once code holds a `DomainName` it may print it into a shell script, a DNS
//! query or a diff without further checks: the constructor is the only gate.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why a configured name is not a usable domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    #[error("empty domain name")]
    Empty,
    #[error("domain name is longer than 253 characters")]
    TooLong,
    #[error("empty label in domain name")]
    EmptyLabel,
    #[error("label `{0}` is longer than 63 characters")]
    LabelTooLong(String),
    #[error("label `{0}` starts or ends with a hyphen")]
    HyphenAtEdge(String),
    #[error("character {0:?} is not allowed in a domain name")]
    BadCharacter(char),
    #[error("cannot convert internationalised name to an A-label")]
    Idna,
}

/// A domain name as mxdrift compares, queries and prints it: lower case,
/// IDNA A-labels, no trailing dot, RFC 1035 lengths, letters, digits,
/// hyphens and underscores only (underscores appear in real hosting configs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Normalise and validate a name as it appears in a configuration file.
    pub fn parse(raw: &str) -> Result<Self, DomainNameError> {
        let trimmed = raw.strip_suffix('.').unwrap_or(raw);
        if trimmed.is_empty() {
            return Err(DomainNameError::Empty);
        }
        let ascii = if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            // UTS 46 mapping also lower-cases; an IDN that cannot be mapped is
            // reported, never guessed at.
            idna::domain_to_ascii(trimmed).map_err(|_| DomainNameError::Idna)?
        };
        Self::validate(&ascii)?;
        Ok(DomainName(ascii))
    }

    fn validate(name: &str) -> Result<(), DomainNameError> {
        if name.is_empty() {
            return Err(DomainNameError::Empty);
        }
        if name.len() > 253 {
            return Err(DomainNameError::TooLong);
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err(DomainNameError::EmptyLabel);
            }
            if label.len() > 63 {
                return Err(DomainNameError::LabelTooLong(label.to_string()));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(DomainNameError::HyphenAtEdge(label.to_string()));
            }
            if let Some(bad) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            {
                return Err(DomainNameError::BadCharacter(bad));
            }
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an absolute DNS name (with the trailing dot), so that no
    /// resolver search list can ever be applied to it.
    pub fn fqdn(&self) -> String {
        format!("{}.", self.0)
    }

    /// True for this machine's own names: `localhost`, names below it
    /// (`*.localhost`, RFC 6761) and `localhost.*` (`localhost.localdomain`,
    /// Postfix's `localhost.$mydomain`). They are never asked in DNS and
    /// never raise findings.
    pub fn is_localhost(&self) -> bool {
        self.0 == "localhost" || self.0.starts_with("localhost.") || self.0.ends_with(".localhost")
    }

    /// True when a label is an IDNA A-label (`xn--...`): the name was
    /// written in Unicode (`bücher.test`) somewhere, and may be again.
    pub fn has_a_label(&self) -> bool {
        self.0.split('.').any(|label| label.starts_with("xn--"))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for DomainName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labels_are_told_from_ascii_names() {
        assert!(DomainName::parse("bücher.test").unwrap().has_a_label());
        assert!(
            DomainName::parse("mail.xn--bcher-kva.test")
                .unwrap()
                .has_a_label()
        );
        assert!(!DomainName::parse("shop.test").unwrap().has_a_label());
        assert!(!DomainName::parse("axn--b.test").unwrap().has_a_label());
    }

    #[test]
    fn lower_cases_and_strips_trailing_dot() {
        assert_eq!(
            DomainName::parse("Example.ORG.").unwrap().as_str(),
            "example.org"
        );
    }

    #[test]
    fn converts_idn_to_a_label() {
        assert_eq!(
            DomainName::parse("Bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn allows_underscores() {
        assert!(DomainName::parse("_dmarc.example.org").is_ok());
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(DomainName::parse(""), Err(DomainNameError::Empty));
        assert_eq!(DomainName::parse("."), Err(DomainNameError::Empty));
        assert_eq!(DomainName::parse("a..b"), Err(DomainNameError::EmptyLabel));
        assert!(matches!(
            DomainName::parse("-a.b"),
            Err(DomainNameError::HyphenAtEdge(_))
        ));
        assert!(matches!(
            DomainName::parse("a b"),
            Err(DomainNameError::BadCharacter(' '))
        ));
        assert!(matches!(
            DomainName::parse("$(id).x"),
            Err(DomainNameError::BadCharacter('$'))
        ));
        assert!(matches!(
            DomainName::parse("*.x"),
            Err(DomainNameError::BadCharacter('*'))
        ));
        let long_label = "a".repeat(64);
        assert!(matches!(
            DomainName::parse(&long_label),
            Err(DomainNameError::LabelTooLong(_))
        ));
        let long_name = vec!["a".repeat(63); 5].join(".");
        assert_eq!(DomainName::parse(&long_name), Err(DomainNameError::TooLong));
    }

    #[test]
    fn recognises_localhost() {
        assert!(DomainName::parse("localhost").unwrap().is_localhost());
        assert!(
            DomainName::parse("localhost.example")
                .unwrap()
                .is_localhost()
        );
        assert!(DomainName::parse("mail.localhost").unwrap().is_localhost());
        assert!(
            !DomainName::parse("notlocalhost.example")
                .unwrap()
                .is_localhost()
        );
        assert!(
            !DomainName::parse("localhost-mx.test")
                .unwrap()
                .is_localhost()
        );
    }
}
