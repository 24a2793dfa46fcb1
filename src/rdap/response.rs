//! Reading a registry's RDAP domain object (RFC 9083): the `expiration`
//! event, the `status` values and the registrar's name.
//!
//! What a newcomer gets wrong:
//! - Registries differ in everything optional: Verisign answers `ldhName`
//!   in upper case, some ccTLDs publish no expiration event, the registrar
//!   is an entity with the role `registrar` whose name is the `fn` of a
//!   jCard (RFC 7095), not a plain field.
//! - Status values are RFC 8056's EPP states written in words
//!   (`client hold`, `redemption period`); anything else is kept as text
//!   but decides nothing.

use serde_json::Value;

use crate::civil_date::CivilDate;

/// One `status` value of a domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DomainState {
    ClientHold,
    ServerHold,
    RedemptionPeriod,
    PendingDelete,
    /// Any other value, as written (lower case).
    Other(String),
}

impl DomainState {
    pub fn parse(text: &str) -> DomainState {
        let words = text.trim().to_ascii_lowercase();
        match words.as_str() {
            "client hold" => DomainState::ClientHold,
            "server hold" => DomainState::ServerHold,
            "redemption period" => DomainState::RedemptionPeriod,
            "pending delete" => DomainState::PendingDelete,
            _ => DomainState::Other(words),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            DomainState::ClientHold => "client hold",
            DomainState::ServerHold => "server hold",
            DomainState::RedemptionPeriod => "redemption period",
            DomainState::PendingDelete => "pending delete",
            DomainState::Other(text) => text,
        }
    }

    /// A state in which the domain is out of the DNS or about to be
    /// deleted (`domain-on-hold`).
    pub fn is_hold(&self) -> bool {
        match self {
            DomainState::ClientHold
            | DomainState::ServerHold
            | DomainState::RedemptionPeriod
            | DomainState::PendingDelete => true,
            DomainState::Other(_) => false,
        }
    }
}

/// What mxdrift reads from a domain object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainFacts {
    /// The day of the `expiration` event (UTC) and the date as written.
    pub expiration: Option<(CivilDate, String)>,
    pub states: Vec<DomainState>,
    pub registrar: Option<String>,
}

/// Why a body is not a usable domain object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedResponse {
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer is not a domain object (objectClassName {0:?})")]
    NotADomain(String),
    #[error("the answer is about {answered}, not {asked}")]
    OtherDomain { asked: String, answered: String },
    #[error("the expiration date {0:?} is not an RFC 3339 date")]
    BadDate(String),
}

/// Read the domain object `body` returned for `asked` (A-label).
pub fn parse_domain(body: &[u8], asked: &str) -> Result<DomainFacts, MalformedResponse> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| MalformedResponse::NotJson(e.to_string()))?;
    let class = value
        .get("objectClassName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if class != "domain" {
        return Err(MalformedResponse::NotADomain(class.to_string()));
    }
    if let Some(answered) = value.get("ldhName").and_then(Value::as_str) {
        let answered = answered.trim_end_matches('.');
        if !answered.eq_ignore_ascii_case(asked) {
            return Err(MalformedResponse::OtherDomain {
                asked: asked.to_string(),
                answered: answered.to_string(),
            });
        }
    }
    let mut expiration = None;
    for event in value
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if event.get("eventAction").and_then(Value::as_str) != Some("expiration") {
            continue;
        }
        let written = event.get("eventDate").and_then(Value::as_str).unwrap_or("");
        let day =
            rfc3339_day(written).ok_or_else(|| MalformedResponse::BadDate(written.to_string()))?;
        // The earliest, should a registry list several.
        if expiration
            .as_ref()
            .is_none_or(|(d, _): &(CivilDate, String)| day < *d)
        {
            expiration = Some((day, written.to_string()));
        }
    }
    let states = value
        .get("status")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(DomainState::parse)
        .collect();
    let registrar = value
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| {
            e.get("roles")
                .and_then(Value::as_array)
                .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some("registrar")))
        })
        .and_then(registrar_name);
    Ok(DomainFacts {
        expiration,
        states,
        registrar,
    })
}

/// The `fn` of the entity's jCard, else its handle. Control characters
/// are dropped: the name goes into one-line messages and terminals.
fn registrar_name(entity: &Value) -> Option<String> {
    let from_vcard = entity
        .get("vcardArray")
        .and_then(Value::as_array)
        .and_then(|v| v.get(1))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .find(|prop| prop.first().and_then(Value::as_str) == Some("fn"))
        .and_then(|prop| prop.get(3))
        .and_then(Value::as_str);
    let name = from_vcard.or_else(|| entity.get("handle").and_then(Value::as_str))?;
    let clean: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// The UTC day of an RFC 3339 date-time (`2027-08-13T04:00:00Z`), or of a
/// bare date. An offset other than UTC moves the day only near midnight;
/// the day as written is kept (expiry is judged in whole days).
pub fn rfc3339_day(text: &str) -> Option<CivilDate> {
    let text = text.trim();
    let date = text.get(..10)?;
    let rest = &text[10..];
    if !(rest.is_empty() || rest.starts_with('T') || rest.starts_with('t') || rest.starts_with(' '))
    {
        return None;
    }
    if date.as_bytes().get(4) != Some(&b'-') || date.as_bytes().get(7) != Some(&b'-') {
        return None;
    }
    CivilDate::parse(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like Verisign's answer for a .com name (upper-case ldhName,
    /// registrar entity with an IANA id, the RDAP database event).
    const VERISIGN: &str = r#"{
      "objectClassName": "domain", "handle": "2336799_DOMAIN_COM-VRSN", "ldhName": "EXAMPLE.COM",
      "links": [{"value": "https://rdap.verisign.com/com/v1/domain/EXAMPLE.COM", "rel": "self",
                 "href": "https://rdap.verisign.com/com/v1/domain/EXAMPLE.COM", "type": "application/rdap+json"}],
      "status": ["client delete prohibited", "client transfer prohibited", "client update prohibited"],
      "entities": [{"objectClassName": "entity", "handle": "376", "roles": ["registrar"],
                    "publicIds": [{"type": "IANA Registrar ID", "identifier": "376"}],
                    "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "RESERVED-Internet Assigned Numbers Authority"]]]}],
      "events": [{"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"},
                 {"eventAction": "expiration", "eventDate": "2027-08-13T04:00:00Z"},
                 {"eventAction": "last update of RDAP database", "eventDate": "2026-11-30T10:00:00Z"}],
      "secureDNS": {"delegationSigned": true},
      "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_1", "icann_rdap_response_profile_1"]
    }"#;

    #[test]
    fn a_verisign_shaped_answer_is_read() {
        let facts = parse_domain(VERISIGN.as_bytes(), "example.com").unwrap();
        assert_eq!(
            facts.expiration.unwrap().0,
            CivilDate::parse("2027-08-13").unwrap()
        );
        assert_eq!(
            facts.registrar.as_deref(),
            Some("RESERVED-Internet Assigned Numbers Authority")
        );
        assert_eq!(facts.states.len(), 3);
        assert!(!facts.states.iter().any(DomainState::is_hold));
    }

    #[test]
    fn hold_states_are_recognised() {
        for (text, hold) in [
            ("client hold", true),
            ("Server Hold", true),
            ("redemption period", true),
            ("pending delete", true),
            ("client transfer prohibited", false),
            ("active", false),
        ] {
            assert_eq!(DomainState::parse(text).is_hold(), hold, "{text}");
        }
    }

    #[test]
    fn malformed_answers_are_refused() {
        assert!(matches!(
            parse_domain(b"<html>", "a.com"),
            Err(MalformedResponse::NotJson(_))
        ));
        assert!(matches!(
            parse_domain(br#"{"objectClassName":"entity"}"#, "a.com"),
            Err(MalformedResponse::NotADomain(_))
        ));
        assert!(matches!(
            parse_domain(
                br#"{"objectClassName":"domain","ldhName":"b.com"}"#,
                "a.com"
            ),
            Err(MalformedResponse::OtherDomain { .. })
        ));
        assert!(matches!(
            parse_domain(
                br#"{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"soon"}]}"#,
                "a.com"
            ),
            Err(MalformedResponse::BadDate(_))
        ));
    }

    #[test]
    fn rfc3339_days() {
        assert_eq!(
            rfc3339_day("2026-12-01T23:59:59.5+01:00"),
            CivilDate::parse("2026-12-01")
        );
        assert_eq!(rfc3339_day("2026-12-01"), CivilDate::parse("2026-12-01"));
        assert_eq!(rfc3339_day("2026-13-01T00:00:00Z"), None);
        assert_eq!(rfc3339_day("20261201T000000Z"), None);
        assert_eq!(rfc3339_day("é"), None);
    }
}
