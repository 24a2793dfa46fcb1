//! An in-process authoritative DNS server for tests, with fault injection.
//!
//! Normal answers come from hickory-server (a `Catalog` of in-memory zones
//! parsed from the zone text the test gives) listening on a private
//! loopback port. In front of it sits a small UDP and TCP loop on the port
//! the test uses: it counts every query it receives, and for a name with a
//! fault it answers itself (SERVFAIL, REFUSED, truncated, garbage) or stays
//! silent; otherwise it relays the query to hickory-server unchanged.
//! hickory-server's handler API gives no way to send garbage bytes or stay
//! silent per name, hence the relay.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{LowerName, RecordType};
use hickory_proto::serialize::txt::Parser;
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// What the server does with a query for a faulty name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Never answer (the client times out).
    Silent,
    /// Over UDP answer with the TC bit and no records; over TCP answer
    /// normally (the client must retry over TCP).
    Truncate,
    /// Answer with bytes that are not a DNS message (the transaction id is
    /// kept, so the client cannot simply ignore it as unrelated).
    Garbage,
}

/// How a query reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Lower case, with the trailing dot.
    pub name: String,
    pub rtype: RecordType,
    pub transport: Transport,
}

#[derive(Default)]
struct State {
    /// Fault by lower-case FQDN; `None` key = every name.
    faults: HashMap<Option<String>, Fault>,
    received: Vec<Received>,
}

pub struct DnsServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: Vec<JoinHandle<()>>,
    backend: Server<Catalog>,
}

impl DnsServer {
    /// Serve one zone (master-file text with `$ORIGIN` and an SOA).
    pub async fn start(zone_text: &str) -> DnsServer {
        Self::start_zones(&[zone_text]).await
    }

    /// Serve several zones; panics on a bad zone (test input).
    pub async fn start_zones(zone_texts: &[&str]) -> DnsServer {
        let mut catalog = Catalog::new();
        for text in zone_texts {
            let (origin, records) = Parser::new(*text, None, None)
                .parse()
                .expect("test zone text must parse");
            let handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
                origin.clone(),
                records,
                ZoneType::Primary,
                AxfrPolicy::Deny,
            )
            .expect("test zone must be valid");
            let handler: Arc<dyn ZoneHandler> = Arc::new(handler);
            catalog.upsert(LowerName::new(&origin), vec![handler]);
        }

        // hickory-server on a private port pair (same port number for UDP
        // and TCP keeps the relay simple).
        let (backend_udp, backend_tcp) = bind_pair().await;
        let backend_addr = backend_udp
            .local_addr()
            .expect("bound socket has an address");
        let mut backend = Server::new(catalog);
        backend.register_socket(backend_udp);
        backend.register_listener(backend_tcp, Duration::from_secs(5), 64);

        let (front_udp, front_tcp) = bind_pair().await;
        let addr = front_udp.local_addr().expect("bound socket has an address");
        let state = Arc::new(Mutex::new(State::default()));
        let udp_task = tokio::spawn(udp_loop(Arc::new(front_udp), backend_addr, state.clone()));
        let tcp_task = tokio::spawn(tcp_loop(front_tcp, backend_addr, state.clone()));
        DnsServer {
            addr,
            state,
            tasks: vec![udp_task, tcp_task],
            backend,
        }
    }

    /// The address to configure as `--nameserver` (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Inject a fault for one name (any type), e.g. `"broken.test."`.
    pub fn with_fault(self, name: &str, fault: Fault) -> Self {
        self.set_fault(Some(name), fault);
        self
    }

    /// Inject a fault for every name.
    pub fn with_fault_everywhere(self, fault: Fault) -> Self {
        self.set_fault(None, fault);
        self
    }

    pub fn set_fault(&self, name: Option<&str>, fault: Fault) {
        let key = name.map(fqdn_lower);
        lock(&self.state).faults.insert(key, fault);
    }

    /// Every query received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// How often (name, type) was asked, over any transport.
    pub fn count(&self, name: &str, rtype: RecordType) -> usize {
        let name = fqdn_lower(name);
        lock(&self.state)
            .received
            .iter()
            .filter(|r| r.name == name && r.rtype == rtype)
            .count()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.backend.shutdown_token().cancel();
    }
}

/// Lower case, with the trailing dot.
pub(super) fn fqdn_lower(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

/// The lock, also after a test thread panicked while holding it.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A UDP socket and a TCP listener on the same loopback port, chosen by
/// the system (port 0): never a port another test holds.
pub(super) async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind UDP on loopback");
        let addr = udp.local_addr().expect("bound socket has an address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no free loopback port for both UDP and TCP");
}

/// Decide what to do with one query; records it.
fn decide(
    state: &Mutex<State>,
    query: &[u8],
    transport: Transport,
) -> (Option<Fault>, Option<Message>) {
    let Ok(message) = Message::from_vec(query) else {
        return (None, None);
    };
    let mut state = lock(state);
    let mut fault = state.faults.get(&None).copied();
    for q in &message.queries {
        let name = q.name().to_lowercase().to_ascii();
        let name = fqdn_lower(&name);
        if let Some(f) = state.faults.get(&Some(name.clone())) {
            fault = Some(*f);
        }
        state.received.push(Received {
            name,
            rtype: q.query_type(),
            transport,
        });
    }
    (fault, Some(message))
}

/// The reply the front answers itself for a fault; `None` = stay silent
/// or relay (Truncate over TCP).
fn fault_reply(fault: Fault, request: &Message, transport: Transport) -> Option<Vec<u8>> {
    let rcode_reply = |code: ResponseCode| {
        let mut reply = Message::error_msg(request.metadata.id, OpCode::Query, code);
        reply.add_queries(request.queries.iter().cloned());
        reply.to_vec().ok()
    };
    match fault {
        Fault::ServFail => rcode_reply(ResponseCode::ServFail),
        Fault::Refused => rcode_reply(ResponseCode::Refused),
        Fault::Silent => None,
        Fault::Truncate if transport == Transport::Udp => {
            let mut reply = Message::response(request.metadata.id, OpCode::Query);
            reply.metadata.truncation = true;
            reply.metadata.authoritative = true;
            reply.add_queries(request.queries.iter().cloned());
            reply.to_vec().ok()
        }
        Fault::Truncate => None,
        Fault::Garbage => {
            let id = request.metadata.id.to_be_bytes();
            // A header flagging a response with 5 questions, then junk.
            let mut bytes = vec![id[0], id[1], 0x81, 0x80, 0x00, 0x05, 0xff, 0xff];
            bytes.extend_from_slice(b"\x07garbage\xc0\xff\xde\xad\xbe\xef");
            Some(bytes)
        }
    }
}

async fn udp_loop(socket: Arc<UdpSocket>, backend: SocketAddr, state: Arc<Mutex<State>>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let query = buf[..len].to_vec();
        let socket = socket.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let (fault, request) = decide(&state, &query, Transport::Udp);
            let reply = match (fault, request) {
                (Some(fault), Some(request)) => fault_reply(fault, &request, Transport::Udp),
                _ => relay_udp(&query, backend).await,
            };
            if let Some(reply) = reply {
                let _ = socket.send_to(&reply, peer).await;
            }
        });
    }
}

async fn relay_udp(query: &[u8], backend: SocketAddr) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.send_to(query, backend).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let len = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(len);
    Some(buf)
}

async fn tcp_loop(listener: TcpListener, backend: SocketAddr, state: Arc<Mutex<State>>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(tcp_connection(stream, backend, state.clone()));
    }
}

async fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let len = stream.read_u16().await.ok()?;
    let mut frame = vec![0u8; usize::from(len)];
    stream.read_exact(&mut frame).await.ok()?;
    Some(frame)
}

async fn write_frame(stream: &mut TcpStream, frame: &[u8]) -> Option<()> {
    let len = u16::try_from(frame.len()).ok()?;
    stream.write_u16(len).await.ok()?;
    stream.write_all(frame).await.ok()?;
    stream.flush().await.ok()
}

async fn tcp_connection(mut stream: TcpStream, backend: SocketAddr, state: Arc<Mutex<State>>) {
    while let Some(query) = read_frame(&mut stream).await {
        let (fault, request) = decide(&state, &query, Transport::Tcp);
        let reply = match (fault, request) {
            (Some(Fault::Truncate), _) | (None, _) | (_, None) => relay_tcp(&query, backend).await,
            (Some(fault), Some(request)) => fault_reply(fault, &request, Transport::Tcp),
        };
        // Silent (no reply): keep the connection open and read on; the
        // client gives up on its own timeout.
        if let Some(reply) = reply
            && write_frame(&mut stream, &reply).await.is_none()
        {
            return;
        }
    }
}

async fn relay_tcp(query: &[u8], backend: SocketAddr) -> Option<Vec<u8>> {
    let mut upstream = TcpStream::connect(backend).await.ok()?;
    write_frame(&mut upstream, query).await?;
    tokio::time::timeout(Duration::from_secs(5), read_frame(&mut upstream))
        .await
        .ok()?
}
