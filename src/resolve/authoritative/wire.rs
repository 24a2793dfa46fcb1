//! One non-recursive question to one server address: UDP, then TCP when
//! the answer is truncated. Politeness lives here too: every address has
//! its own limit of queries in flight and its own `--max-qps` pace, so a
//! provider with 20,000 of the audited domains sees a steady trickle, not
//! a burst of 40,000 queries.
//!
//! A newcomer would expect a connected UDP socket to be enough to trust
//! the source: it is, for the address; the id and the question must match
//! too, and a datagram that does not match is ignored, not taken as the
//! answer (an off-path forger would otherwise win any race).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use super::super::rate::TokenBucket;

/// EDNS payload size asked for (the DNS flag day 2020 value: no
/// fragmentation on ordinary paths).
const EDNS_PAYLOAD: u16 = 1232;

/// Why no usable message came back from one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireFault {
    /// Nothing within the timeout, every attempt.
    Silent,
    /// A reply that is no DNS message for the question asked.
    Garbage(String),
    /// The socket failed (unreachable network, refused TCP, ...).
    Io(String),
}

impl std::fmt::Display for WireFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireFault::Silent => f.write_str("no answer (timeout)"),
            WireFault::Garbage(why) => write!(f, "an unusable answer: {why}"),
            WireFault::Io(why) => write!(f, "network error: {why}"),
        }
    }
}

/// The limits of one server address.
struct AddressLimit {
    in_flight: Semaphore,
    rate: Option<TokenBucket>,
}

/// Sends questions, within the global and per-address limits.
pub(crate) struct Wire {
    timeout: Duration,
    attempts: usize,
    per_server: usize,
    max_qps: Option<u32>,
    /// TCP only (the confirmation before `fix` changes anything): an
    /// off-path forger cannot inject into a TCP connection.
    tcp_only: bool,
    global: Semaphore,
    limits: Mutex<HashMap<IpAddr, Arc<AddressLimit>>>,
}

impl Wire {
    pub(crate) fn new(
        timeout: Duration,
        attempts: usize,
        concurrency: usize,
        per_server: usize,
        max_qps: Option<u32>,
        tcp_only: bool,
    ) -> Self {
        Wire {
            timeout,
            attempts: attempts.max(1),
            per_server: per_server.max(1),
            max_qps,
            tcp_only,
            global: Semaphore::new(concurrency.max(1)),
            limits: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, ip: IpAddr) -> Arc<AddressLimit> {
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(limits.entry(ip).or_insert_with(|| {
            Arc::new(AddressLimit {
                in_flight: Semaphore::new(self.per_server),
                rate: self.max_qps.map(TokenBucket::new),
            })
        }))
    }

    /// Ask `query` of `ip` port `port`, recursion not desired. Returns the
    /// response whose id and question match, or why there is none.
    pub(crate) async fn ask(
        &self,
        ip: IpAddr,
        port: u16,
        query: &Query,
    ) -> Result<Message, WireFault> {
        let limit = self.limit(ip);
        let Ok(_server_permit) = limit.in_flight.acquire().await else {
            return Err(WireFault::Io("limiter closed".into()));
        };
        let Ok(_permit) = self.global.acquire().await else {
            return Err(WireFault::Io("limiter closed".into()));
        };
        let server = SocketAddr::new(ip, port);
        let mut last = WireFault::Silent;
        for _ in 0..self.attempts {
            if let Some(bucket) = &limit.rate {
                bucket.take().await;
            }
            if self.tcp_only {
                match self.tcp(server, query).await {
                    Err(WireFault::Silent) => {
                        last = WireFault::Silent;
                        continue;
                    }
                    other => return other,
                }
            }
            match self.udp(server, query).await {
                Ok(message) if message.metadata.truncation => {
                    return self.tcp(server, query).await;
                }
                Ok(message) => return Ok(message),
                // Silence is worth another attempt; garbage or a socket
                // error is the answer.
                Err(WireFault::Silent) => last = WireFault::Silent,
                Err(other) => return Err(other),
            }
        }
        Err(last)
    }

    async fn udp(&self, server: SocketAddr, query: &Query) -> Result<Message, WireFault> {
        let (id, bytes) = request(query)?;
        let local: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let io = |e: std::io::Error| WireFault::Io(e.to_string());
        let socket = UdpSocket::bind(local).await.map_err(io)?;
        socket.connect(server).await.map_err(io)?;
        socket.send(&bytes).await.map_err(io)?;
        let mut buf = vec![0u8; 65535];
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut garbage: Option<String> = None;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
            let len = match received {
                Err(_elapsed) => {
                    return Err(garbage.map_or(WireFault::Silent, WireFault::Garbage));
                }
                // ICMP port unreachable on a connected socket.
                Ok(Err(e)) => return Err(io(e)),
                Ok(Ok(len)) => len,
            };
            let data = buf.get(..len).unwrap_or_default();
            match matching(data, id, query) {
                Ok(message) => return Ok(message),
                // Keep listening: the real answer may still come; if it
                // does not, the garbage is the server's answer.
                Err(why) => garbage = Some(why),
            }
        }
    }

    async fn tcp(&self, server: SocketAddr, query: &Query) -> Result<Message, WireFault> {
        let exchange = async {
            let (id, bytes) = request(query)?;
            let io = |e: std::io::Error| WireFault::Io(format!("TCP: {e}"));
            let mut stream = TcpStream::connect(server).await.map_err(io)?;
            let len = u16::try_from(bytes.len())
                .map_err(|_| WireFault::Io("query too long for TCP".into()))?;
            let mut framed = Vec::with_capacity(bytes.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&bytes);
            stream.write_all(&framed).await.map_err(io)?;
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await.map_err(io)?;
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut body).await.map_err(io)?;
            matching(&body, id, query).map_err(WireFault::Garbage)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_elapsed) => Err(WireFault::Silent),
        }
    }
}

fn request(query: &Query) -> Result<(u16, Vec<u8>), WireFault> {
    let mut message = Message::query();
    message.queries.push(query.clone());
    message.metadata.recursion_desired = false;
    message
        .edns
        .get_or_insert_with(Edns::new)
        .set_max_payload(EDNS_PAYLOAD)
        .set_dnssec_ok(false);
    let bytes = message
        .to_vec()
        .map_err(|e| WireFault::Io(format!("cannot encode the query: {e}")))?;
    Ok((message.metadata.id, bytes))
}

/// The message in `data`, if it answers the question `id` asked.
fn matching(data: &[u8], id: u16, query: &Query) -> Result<Message, String> {
    let message = Message::from_vec(data).map_err(|e| format!("does not parse: {e}"))?;
    if message.metadata.id != id {
        return Err("a reply with another id".into());
    }
    if message.metadata.message_type != hickory_proto::op::MessageType::Response {
        return Err("not a response".into());
    }
    // Names compare without regard to case.
    if message.queries.len() != 1 || message.queries.first() != Some(query) {
        return Err("a reply to another question".into());
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::name;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::RecordType;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// A server on `ip` (port chosen by the kernel) that answers every
    /// query with an empty NOERROR; returns its port and the arrival count.
    async fn responder(ip: &str) -> (u16, Arc<AtomicUsize>) {
        let socket = UdpSocket::bind((ip, 0)).await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.metadata.message_type = MessageType::Response;
                reply.queries = query.queries.clone();
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        (port, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn max_qps_paces_each_server_address_on_its_own() {
        let (port_a, seen_a) = responder("127.0.0.1").await;
        let (port_b, seen_b) = responder("127.0.0.2").await;
        let wire = Arc::new(Wire::new(
            Duration::from_secs(2),
            1,
            64,
            super::super::PER_SERVER_IN_FLIGHT,
            Some(20),
            false,
        ));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..30 {
            for (ip, port) in [("127.0.0.1", port_a), ("127.0.0.2", port_b)] {
                let wire = Arc::clone(&wire);
                tasks.spawn(async move {
                    let query = Query::query(name(&format!("d{i}.test.")), RecordType::MX);
                    wire.ask(ip.parse().unwrap(), port, &query).await.is_ok()
                });
            }
        }
        let mut answered = 0;
        while let Some(done) = tasks.join_next().await {
            answered += usize::from(done.unwrap());
        }
        let elapsed = started.elapsed();
        assert_eq!(answered, 60);
        assert_eq!(seen_a.load(Ordering::SeqCst), 30);
        assert_eq!(seen_b.load(Ordering::SeqCst), 30);
        // 30 questions at 20 per second (a burst of 2) take about 1.4 s at
        // each address; the two addresses are paced side by side, not one
        // after the other (about 2.9 s).
        assert!(elapsed >= Duration::from_millis(1200), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2600), "{elapsed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_server_gets_at_most_the_per_server_limit_at_once() {
        // Bound but never answering.
        let silent = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let wire = Arc::new(Wire::new(Duration::from_millis(300), 1, 64, 3, None, false));
        let counter = Arc::new(AtomicUsize::new(0));
        let reader = {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while silent.recv_from(&mut buf).await.is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..9 {
            let wire = Arc::clone(&wire);
            tasks.spawn(async move {
                let query = Query::query(name(&format!("d{i}.test.")), RecordType::MX);
                wire.ask("127.0.0.1".parse().unwrap(), port, &query).await
            });
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(counter.load(Ordering::SeqCst), 3);
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.unwrap().unwrap_err(), WireFault::Silent);
        }
        assert_eq!(counter.load(Ordering::SeqCst), 9);
        reader.abort();
    }
}
