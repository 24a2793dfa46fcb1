//! A raw DNS responder for tests: every answer is a message the test
//! builds by hand, sent as built, with whatever inconsistency it has
//! (records in the wrong section, of the wrong name or type, an rcode that
//! contradicts the sections, another question). hickory-server never sends
//! such answers, hence this responder.
//!
//! [`Path`] picks which of mxdrift's two live paths receives the answer:
//! `Fast` answers over UDP (the fast path takes it); `Hickory` answers UDP
//! with the TC bit and no records, so that the answer itself only arrives
//! over TCP, through hickory's name-server pool. [`RawDns::received`]
//! shows which transports a query really used.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::dns_server::{Received, Transport, bind_pair, fqdn_lower, lock};

/// Which live path of mxdrift gets the crafted answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The crafted answer comes over UDP: the fast path receives it.
    Fast,
    /// UDP answers are truncated (TC, no records); the crafted answer comes
    /// over TCP, through hickory's name-server pool.
    Hickory,
}

/// Builds the answer to one query; `None` stays silent.
pub type Responder = dyn Fn(&Message) -> Option<Message> + Send + Sync;

pub struct RawDns {
    addr: SocketAddr,
    udp: Arc<UdpSocket>,
    received: Arc<Mutex<Vec<Received>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RawDns {
    pub async fn start(
        path: Path,
        respond: impl Fn(&Message) -> Option<Message> + Send + Sync + 'static,
    ) -> RawDns {
        let respond: Arc<Responder> = Arc::new(respond);
        Self::start_with(path, respond.clone(), respond).await
    }

    /// Answer UDP queries with `udp` and TCP queries with `tcp`.
    pub async fn start_split(
        udp: impl Fn(&Message) -> Option<Message> + Send + Sync + 'static,
        tcp: impl Fn(&Message) -> Option<Message> + Send + Sync + 'static,
    ) -> RawDns {
        Self::start_with(Path::Fast, Arc::new(udp), Arc::new(tcp)).await
    }

    /// Answer on `addr` itself (UDP and TCP), for the authoritative-mode
    /// trees whose referrals carry addresses, never ports.
    pub async fn start_on(
        addr: SocketAddr,
        respond: impl Fn(&Message) -> Option<Message> + Send + Sync + 'static,
    ) -> RawDns {
        let respond: Arc<Responder> = Arc::new(respond);
        let udp = UdpSocket::bind(addr).await.expect("bind UDP");
        let tcp = TcpListener::bind(addr).await.expect("bind TCP");
        Self::serve(Path::Fast, udp, tcp, respond.clone(), respond)
    }

    async fn start_with(
        path: Path,
        udp_respond: Arc<Responder>,
        tcp_respond: Arc<Responder>,
    ) -> RawDns {
        let (udp, tcp) = bind_pair().await;
        Self::serve(path, udp, tcp, udp_respond, tcp_respond)
    }

    fn serve(
        path: Path,
        udp: UdpSocket,
        tcp: TcpListener,
        udp_respond: Arc<Responder>,
        tcp_respond: Arc<Responder>,
    ) -> RawDns {
        let addr = udp.local_addr().expect("bound socket has an address");
        let udp = Arc::new(udp);
        let received = Arc::new(Mutex::new(Vec::new()));
        let udp_task = tokio::spawn(udp_loop(udp.clone(), path, udp_respond, received.clone()));
        let tcp_task = tokio::spawn(tcp_loop(tcp, tcp_respond, received.clone()));
        RawDns {
            addr,
            udp,
            received,
            tasks: vec![udp_task, tcp_task],
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's UDP socket: datagrams sent from it come from the
    /// server's address and port, as a spoofer's forged answers would.
    pub fn udp_socket(&self) -> Arc<UdpSocket> {
        self.udp.clone()
    }

    /// Every query received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.received).clone()
    }

    /// The transports the queries for (name, type) came over.
    pub fn transports(&self, name: &str, rtype: RecordType) -> Vec<Transport> {
        let name = fqdn_lower(name);
        lock(&self.received)
            .iter()
            .filter(|r| r.name == name && r.rtype == rtype)
            .map(|r| r.transport)
            .collect()
    }
}

impl Drop for RawDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn record(received: &Mutex<Vec<Received>>, request: &Message, transport: Transport) {
    let mut log = lock(received);
    for q in &request.queries {
        log.push(Received {
            name: fqdn_lower(&q.name().to_ascii()),
            rtype: q.query_type(),
            transport,
        });
    }
}

async fn udp_loop(
    socket: Arc<UdpSocket>,
    path: Path,
    respond: Arc<Responder>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        record(&received, &request, Transport::Udp);
        let reply = match path {
            Path::Fast => respond(&request).map(|mut m| {
                m.metadata.id = request.metadata.id;
                m
            }),
            Path::Hickory => {
                let mut truncated = reply_to(&request);
                truncated.metadata.truncation = true;
                Some(truncated)
            }
        };
        if let Some(bytes) = reply.and_then(|m| m.to_vec().ok()) {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

async fn tcp_loop(
    listener: TcpListener,
    respond: Arc<Responder>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(tcp_connection(stream, respond.clone(), received.clone()));
    }
}

async fn tcp_connection(
    mut stream: TcpStream,
    respond: Arc<Responder>,
    received: Arc<Mutex<Vec<Received>>>,
) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut frame = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let Ok(request) = Message::from_vec(&frame) else {
            return;
        };
        record(&received, &request, Transport::Tcp);
        let Some(mut reply) = respond(&request) else {
            continue;
        };
        reply.metadata.id = request.metadata.id;
        let Ok(bytes) = reply.to_vec() else { return };
        let Ok(len) = u16::try_from(bytes.len()) else {
            return;
        };
        if stream.write_u16(len).await.is_err() || stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

// Builders for crafted answers.

/// An empty NOERROR answer repeating the request's question, RA set.
pub fn reply_to(request: &Message) -> Message {
    let mut reply = Message::response(request.metadata.id, OpCode::Query);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = request.queries.clone();
    reply
}

/// The request's only question.
pub fn question(request: &Message) -> Option<(Name, RecordType)> {
    request
        .queries
        .first()
        .map(|q: &Query| (q.name().to_lowercase(), q.query_type()))
}

pub fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("test name")
}

pub fn mx(owner: &str, preference: u16, exchange: &str) -> Record {
    Record::from_rdata(
        name(owner),
        300,
        RData::MX(MX::new(preference, name(exchange))),
    )
}

pub fn a(owner: &str, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name(owner), 300, RData::A(A(ip)))
}

pub fn aaaa(owner: &str, ip: std::net::Ipv6Addr) -> Record {
    Record::from_rdata(name(owner), 300, RData::AAAA(AAAA(ip)))
}

pub fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 300, RData::CNAME(CNAME(name(target))))
}

pub fn ns(owner: &str, server: &str) -> Record {
    Record::from_rdata(name(owner), 3600, RData::NS(NS(name(server))))
}

/// An SOA record for `zone` whose primary server is `mname`.
pub fn soa(zone: &str, mname: &str) -> Record {
    Record::from_rdata(
        name(zone),
        3600,
        RData::SOA(SOA::new(
            name(mname),
            name("hostmaster.invalid."),
            1,
            3600,
            600,
            86400,
            300,
        )),
    )
}

/// Set the rcode of a crafted answer.
pub fn with_rcode(mut message: Message, rcode: ResponseCode) -> Message {
    message.metadata.response_code = rcode;
    message
}
