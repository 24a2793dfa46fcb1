//! A real HTTP server on loopback that answers RDAP domain queries like two
//! registries: Verisign's .com service (upper-case `ldhName`, the registrar
//! as an entity with an IANA id, the "last update of RDAP database" event)
//! and AFNIC's .fr service (lower-case names, `sponsor`+`registrar` roles,
//! jCards with addresses), shaped after RFC 9083's examples and the
//! registries' published answers. It counts requests per path and the
//! most requests it held at once, so tests prove the cache and the limits
//! where it matters: at the server.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What the server answers for one domain (lower case, A-label).
#[derive(Debug, Clone)]
pub enum Answer {
    /// Verisign-shaped domain object.
    Verisign {
        expiration: String,
        status: Vec<&'static str>,
        registrar: &'static str,
    },
    /// AFNIC-shaped domain object (no expiration event when `None`).
    Afnic {
        expiration: Option<String>,
        status: Vec<&'static str>,
        registrar: &'static str,
    },
    NotFound,
    /// 429 with `Retry-After: secs` for the first `times` requests, then
    /// the inner answer.
    TooMany {
        retry_after: &'static str,
        times: usize,
        then: Box<Answer>,
    },
    /// 200 with a body that is not a domain object.
    Malformed,
    /// 302 to this location.
    Redirect(String),
}

#[derive(Default)]
struct State {
    answers: BTreeMap<String, Answer>,
    /// Requests per domain asked.
    requests: BTreeMap<String, usize>,
    /// Request paths in arrival order, with the time since the start.
    log: Vec<(String, Duration)>,
}

pub struct RdapServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl RdapServer {
    /// Serve `answers` on a loopback port of its own; each answer waits
    /// `delay` first, so that concurrent requests overlap.
    pub fn start(answers: Vec<(&str, Answer)>, delay: Duration) -> RdapServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            answers: answers
                .into_iter()
                .map(|(d, a)| (d.to_string(), a))
                .collect(),
            ..State::default()
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let started = std::time::Instant::now();
        {
            let state = Arc::clone(&state);
            let in_flight = Arc::clone(&in_flight);
            let most = Arc::clone(&most_in_flight);
            runtime.spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let state = Arc::clone(&state);
                    let in_flight = Arc::clone(&in_flight);
                    let most = Arc::clone(&most);
                    tokio::spawn(async move {
                        let service = service_fn(move |req: Request<Incoming>| {
                            let state = Arc::clone(&state);
                            let in_flight = Arc::clone(&in_flight);
                            let most = Arc::clone(&most);
                            async move {
                                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                tokio::time::sleep(delay).await;
                                let response = answer(&state, req.uri().path(), started);
                                in_flight.fetch_sub(1, Ordering::SeqCst);
                                Ok::<_, Infallible>(response)
                            }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        }
        RdapServer {
            addr,
            state,
            in_flight,
            most_in_flight,
            _runtime: runtime,
        }
    }

    /// The base URL of the "registry" `name` (a path prefix).
    pub fn base(&self, name: &str) -> String {
        format!("http://{}/{name}/", self.addr)
    }

    /// A bootstrap file (RFC 9224) mapping `.com` to the Verisign-shaped
    /// service and `.fr` to the AFNIC-shaped one, both on this server.
    pub fn bootstrap(&self) -> String {
        format!(
            r#"{{
  "description": "RDAP bootstrap file for Domain Name System registrations",
  "publication": "2026-11-30T00:00:00Z",
  "services": [
    [["com", "net"], ["{}"]],
    [["fr"], ["{}"]]
  ],
  "version": "1.0"
}}"#,
            self.base("com/v1"),
            self.base("afnic")
        )
    }

    pub fn requests(&self, domain: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .requests
            .get(domain)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.state.lock().unwrap().requests.values().sum()
    }

    /// When each request for `domain` arrived.
    pub fn arrivals(&self, domain: &str) -> Vec<Duration> {
        let suffix = format!("/domain/{domain}");
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(p, _)| p.to_ascii_lowercase().ends_with(&suffix))
            .map(|(_, t)| *t)
            .collect()
    }

    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/rdap+json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn answer(state: &Mutex<State>, path: &str, started: std::time::Instant) -> Response<Full<Bytes>> {
    let mut state = state.lock().unwrap();
    state.log.push((path.to_string(), started.elapsed()));
    let Some((_, domain)) = path.rsplit_once("/domain/") else {
        return json(StatusCode::BAD_REQUEST, error_body(400, "Bad Request"));
    };
    let domain = domain.to_ascii_lowercase();
    let count = {
        let n = state.requests.entry(domain.clone()).or_default();
        *n += 1;
        *n
    };
    let Some(found) = state.answers.get(&domain).cloned() else {
        return json(StatusCode::NOT_FOUND, error_body(404, "Not Found"));
    };
    render(&found, &domain, path, count)
}

fn render(found: &Answer, domain: &str, path: &str, count: usize) -> Response<Full<Bytes>> {
    match found {
        Answer::Verisign {
            expiration,
            status,
            registrar,
        } => json(
            StatusCode::OK,
            verisign(domain, path, expiration, status, registrar),
        ),
        Answer::Afnic {
            expiration,
            status,
            registrar,
        } => json(
            StatusCode::OK,
            afnic(domain, expiration.as_deref(), status, registrar),
        ),
        Answer::NotFound => json(StatusCode::NOT_FOUND, error_body(404, "Not Found")),
        Answer::Redirect(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location.as_str())
            .body(Full::new(Bytes::new()))
            .unwrap(),
        Answer::Malformed => json(
            StatusCode::OK,
            r#"{"objectClassName": "domain", "ldhName": "#.to_string(),
        ),
        Answer::TooMany {
            retry_after,
            times,
            then,
        } => {
            if count <= *times {
                Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("retry-after", *retry_after)
                    .header("content-type", "application/rdap+json")
                    .body(Full::new(Bytes::from(error_body(429, "Too Many Requests"))))
                    .unwrap()
            } else {
                render(then, domain, path, count)
            }
        }
    }
}

fn error_body(code: u16, title: &str) -> String {
    format!(
        r#"{{"rdapConformance": ["rdap_level_0"], "errorCode": {code}, "title": "{title}", "description": ["{title}"]}}"#
    )
}

fn strings(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Verisign's .com answer: upper-case names, the registrar entity with its
/// IANA id and an abuse contact, notices, the RDAP database event.
fn verisign(
    domain: &str,
    path: &str,
    expiration: &str,
    status: &[&str],
    registrar: &str,
) -> String {
    let upper = domain.to_ascii_uppercase();
    format!(
        r#"{{
  "objectClassName": "domain",
  "handle": "2336799_DOMAIN_COM-VRSN",
  "ldhName": "{upper}",
  "links": [{{"value": "{path}", "rel": "self", "href": "{path}", "type": "application/rdap+json"}}],
  "status": [{status}],
  "entities": [{{
    "objectClassName": "entity", "handle": "292", "roles": ["registrar"],
    "publicIds": [{{"type": "IANA Registrar ID", "identifier": "292"}}],
    "vcardArray": ["vcard", [["version", {{}}, "text", "4.0"], ["fn", {{}}, "text", "{registrar}"]]],
    "entities": [{{"objectClassName": "entity", "roles": ["abuse"],
      "vcardArray": ["vcard", [["version", {{}}, "text", "4.0"], ["fn", {{}}, "text", ""],
        ["tel", {{"type": "voice"}}, "uri", "tel:+1.5555551212"], ["email", {{}}, "text", "abuse@registrar.example"]]]}}]
  }}],
  "events": [
    {{"eventAction": "registration", "eventDate": "1997-09-15T04:00:00Z"}},
    {{"eventAction": "expiration", "eventDate": "{expiration}"}},
    {{"eventAction": "last changed", "eventDate": "2019-09-09T15:39:04Z"}},
    {{"eventAction": "last update of RDAP database", "eventDate": "2026-11-30T10:41:22Z"}}
  ],
  "secureDNS": {{"delegationSigned": false}},
  "nameservers": [{{"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE.NET"}}],
  "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_1", "icann_rdap_response_profile_1"],
  "notices": [{{"title": "Terms of Use", "description": ["Service subject to Terms of Use."],
    "links": [{{"href": "https://www.verisign.com/domain-names/registration-data-access-protocol/terms-service/index.xhtml", "type": "text/html"}}]}}]
}}"#,
        status = strings(status),
    )
}

/// AFNIC's .fr answer: lower-case names, `sponsor` and `registrar` roles,
/// jCards with addresses, FRNIC handles.
fn afnic(domain: &str, expiration: Option<&str>, status: &[&str], registrar: &str) -> String {
    let expiry = expiration
        .map(|e| format!(r#"{{"eventAction": "expiration", "eventDate": "{e}"}},"#))
        .unwrap_or_default();
    format!(
        r#"{{
  "rdapConformance": ["rdap_level_0", "icann_rdap_technical_implementation_guide_0", "icann_rdap_response_profile_0"],
  "objectClassName": "domain",
  "handle": "DOM000000024309-FRNIC",
  "links": [{{"value": "https://rdap.nic.fr/domain/{domain}", "rel": "self", "href": "https://rdap.nic.fr/domain/{domain}"}}],
  "events": [
    {{"eventAction": "registration", "eventDate": "2005-08-02T14:16:36Z"}},
    {expiry}
    {{"eventAction": "last changed", "eventDate": "2024-06-12T22:09:39.881923Z"}}
  ],
  "status": [{status}],
  "port43": "whois.nic.fr",
  "entities": [{{
    "objectClassName": "entity", "handle": "RAR24-FRNIC",
    "vcardArray": ["vcard", [["version", {{}}, "text", "4.0"], ["fn", {{}}, "text", "{registrar}"],
      ["adr", {{}}, "text", ["", "", "39 boulevard des Capucines", "PARIS", "", "75002", "FR"]]]],
    "roles": ["sponsor", "registrar"],
    "publicIds": [{{"type": "IANA Registrar ID", "identifier": "1251"}}]
  }}],
  "ldhName": "{domain}"
}}"#,
        status = strings(status),
    )
}
