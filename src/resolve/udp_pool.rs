//! A hickory runtime provider whose UDP "sockets" share a small pool of
//! long-lived sockets.
//!
//! hickory's UDP client binds a fresh socket to a random port for every
//! query and closes it afterwards: with epoll registration that is about
//! seven system calls and several thread wake-ups per query, which at
//! 100,000 domains cost more than the queries themselves. Here hickory still
//! asks for a socket per query ([`RuntimeProvider::bind_udp`]), but gets a
//! light handle onto one of [`POOL_SIZE`] sockets per address family. A
//! reader task per pooled socket hands each datagram to the handles waiting
//! for an answer from that server with that query id. Everything else stays
//! hickory's: query ids, retries, the checks that an answer comes from the
//! server asked, carries the query's id and repeats its question (the handle
//! delivers, hickory validates), truncation and the TCP retry (TCP
//! connections are hickory's own), timeouts. The fast path (`fast.rs`) takes
//! handles from the same pool and makes the same checks.
//!
//! Spoofing, and what protects each use of an answer (see also the README,
//! "Source ports" and "Safety"):
//! - With a fresh random port per query an off-path spoofer must guess the
//!   16-bit query id *and* one of some 60,000 ports; with the pool it is the
//!   id and one of [`POOL_SIZE`] ports. So the pool is re-bound on fresh
//!   random ports (the kernel picks them) after [`ROTATE_AFTER_QUERIES`]
//!   queries or [`ROTATE_AFTER`], whichever comes first: a spoofer who found
//!   the ports has seconds to use them. Sockets of an old generation stay
//!   open only for the queries still waiting on them.
//! - Query names go out with random letter case (0x20, draft-vixie-dnsext-
//!   dns0x20), in the fast path and in hickory's pool, and an answer must
//!   repeat the question in exactly that case: a blind spoofer must also
//!   guess one bit per letter. An answer in another case is asked again over
//!   TCP. A server that never repeats the case is asked without it from then
//!   on (see `live`).
//! - Reports (audit, monitoring, baselines) rest on these UDP answers: a
//!   forged answer that wins all of that misleads one report, no later run
//!   (mxdrift caches nothing across runs). Changes never do: `fix` resolves
//!   every domain it would change again over TCP only (`confirm`) and plans
//!   nothing the TCP evidence does not confirm.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hickory_resolver::net::runtime::{DnsUdpSocket, RuntimeProvider, TokioRuntimeProvider};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::AbortHandle;

/// Sockets per address family. dnsperf reaches its best rate against a
/// local NSD with four.
pub(crate) const POOL_SIZE: usize = 4;

/// Queries a generation of pooled sockets serves before the pool is bound
/// again on fresh ports (per address family).
pub(crate) const ROTATE_AFTER_QUERIES: usize = 4096;

/// How long a generation of pooled sockets serves at most.
pub(crate) const ROTATE_AFTER: Duration = Duration::from_secs(4);

/// The largest UDP datagram.
const MAX_DATAGRAM: usize = 65_535;

/// One datagram and where it came from.
type Datagram = (Vec<u8>, SocketAddr);

/// Who waits for answers: server address (canonical IP, port) and query id.
type WaitKey = (IpAddr, u16, u16);

/// Every handle waiting for one key, with its token. Usually one; two
/// concurrent queries to the same server may draw the same random id, and
/// hickory's retry sends the same id again from a second handle: each gets
/// the datagram and hickory's question check sorts them out.
type Waiters = HashMap<WaitKey, Vec<(u64, UnboundedSender<Datagram>)>>;

/// Lock a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wait_key(server: SocketAddr, id: u16) -> WaitKey {
    (server.ip().to_canonical(), server.port(), id)
}

/// The query id of a DNS message (its first two bytes).
fn message_id(message: &[u8]) -> Option<u16> {
    message.first_chunk::<2>().map(|id| u16::from_be_bytes(*id))
}

/// One long-lived socket and the handles waiting on it.
#[derive(Debug)]
struct PooledSocket {
    socket: UdpSocket,
    waiters: Mutex<Waiters>,
    /// Handles onto this socket that are alive.
    handles: AtomicUsize,
    /// A newer generation serves new queries; the socket closes once its
    /// last handle is gone.
    retired: AtomicBool,
    reader: Mutex<Option<AbortHandle>>,
}

impl PooledSocket {
    /// Stop the reader (and so close the socket once the handles are gone)
    /// when the socket is retired and no handle is left. Called by both
    /// sides of the race (retiring, dropping the last handle); with
    /// sequentially consistent atomics at least one of them sees both.
    fn close_if_unused(&self) {
        if self.retired.load(Ordering::SeqCst)
            && self.handles.load(Ordering::SeqCst) == 0
            && let Some(reader) = lock(&self.reader).take()
        {
            reader.abort();
        }
    }

    /// Hand every datagram to the handles waiting for its server and id.
    /// Datagrams nobody waits for (late answers to finished queries, stray
    /// or forged packets) are dropped.
    async fn read_loop(self: Arc<Self>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (len, source) = match self.socket.recv_from(&mut buf).await {
                Ok(received) => received,
                // An error reported on the socket (an ICMP error for one
                // datagram) is not the end of the socket; the pause keeps a
                // persistent error from spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            let Some(data) = buf.get(..len) else {
                continue;
            };
            let Some(id) = message_id(data) else {
                continue;
            };
            let waiters = lock(&self.waiters);
            if let Some(handles) = waiters.get(&wait_key(source, id)) {
                for (_, sender) in handles {
                    // A handle whose receiver is gone is being dropped and
                    // unregisters itself.
                    let _ = sender.send((data.to_vec(), source));
                }
            }
        }
    }
}

/// The sockets of one address family now serving new queries.
#[derive(Debug)]
struct Generation {
    sockets: Vec<Arc<PooledSocket>>,
    born: Instant,
    /// Handles given out so far (round-robin over the sockets).
    served: usize,
}

impl Generation {
    fn worn(&self) -> bool {
        self.served >= ROTATE_AFTER_QUERIES || self.born.elapsed() >= ROTATE_AFTER
    }
}

/// The sockets of one address family, bound on first use and again on
/// fresh ports when worn (see [`ROTATE_AFTER_QUERIES`]).
#[derive(Debug, Default)]
struct Family {
    current: Mutex<Option<Generation>>,
    /// Generations bound so far (for tests and the benchmark's curiosity).
    generations: AtomicUsize,
}

#[derive(Debug, Default)]
struct Pool {
    v4: Family,
    v6: Family,
    next_token: AtomicU64,
    /// Every reader still running, to stop them with the pool.
    readers: Mutex<Vec<AbortHandle>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for reader in lock(&self.readers).drain(..) {
            reader.abort();
        }
    }
}

impl Pool {
    /// A socket for one query to `server`, counted as a handle of it.
    /// Synchronous (binding with a socket address needs no lookup), so the
    /// family's lock is never held across an await.
    fn socket_for(&self, server: SocketAddr) -> io::Result<Arc<PooledSocket>> {
        let (family, unspecified) = if server.is_ipv4() {
            (&self.v4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        } else {
            (&self.v6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        };
        let mut current = lock(&family.current);
        if current.as_ref().is_none_or(Generation::worn) {
            let fresh = self.bind_generation(unspecified)?;
            family.generations.fetch_add(1, Ordering::Relaxed);
            if let Some(old) = current.replace(fresh) {
                for socket in old.sockets {
                    socket.retired.store(true, Ordering::SeqCst);
                    socket.close_if_unused();
                }
            }
        }
        let generation = current
            .as_mut()
            .ok_or_else(|| io::Error::other("empty UDP socket pool"))?;
        let socket = generation
            .sockets
            .get(generation.served % generation.sockets.len().max(1))
            .cloned()
            .ok_or_else(|| io::Error::other("empty UDP socket pool"))?;
        generation.served += 1;
        // Counted under the family's lock: a rotation cannot close the
        // socket between choosing it and the handle holding it.
        socket.handles.fetch_add(1, Ordering::SeqCst);
        Ok(socket)
    }

    fn bind_generation(&self, unspecified: IpAddr) -> io::Result<Generation> {
        let mut sockets = Vec::with_capacity(POOL_SIZE);
        let mut readers = lock(&self.readers);
        readers.retain(|reader| !reader.is_finished());
        for _ in 0..POOL_SIZE {
            // Port 0: the kernel picks a random free port.
            let socket = std::net::UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
            socket.set_nonblocking(true)?;
            let pooled = Arc::new(PooledSocket {
                socket: UdpSocket::from_std(socket)?,
                waiters: Mutex::new(HashMap::new()),
                handles: AtomicUsize::new(0),
                retired: AtomicBool::new(false),
                reader: Mutex::new(None),
            });
            let reader = tokio::spawn(Arc::clone(&pooled).read_loop());
            *lock(&pooled.reader) = Some(reader.abort_handle());
            readers.push(reader.abort_handle());
            sockets.push(pooled);
        }
        Ok(Generation {
            sockets,
            born: Instant::now(),
            served: 0,
        })
    }
}

/// hickory's tokio runtime, with UDP over the pool. Clones share the pool;
/// the pool's sockets close when the last clone is dropped.
#[derive(Clone, Default)]
pub(crate) struct PooledUdpRuntime {
    tokio: TokioRuntimeProvider,
    pool: Arc<Pool>,
}

impl RuntimeProvider for PooledUdpRuntime {
    type Handle = <TokioRuntimeProvider as RuntimeProvider>::Handle;
    type Timer = <TokioRuntimeProvider as RuntimeProvider>::Timer;
    type Udp = PooledUdp;
    type Tcp = <TokioRuntimeProvider as RuntimeProvider>::Tcp;

    fn create_handle(&self) -> Self::Handle {
        self.tokio.create_handle()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Tcp, io::Error>>>> {
        self.tokio.connect_tcp(server_addr, bind_addr, timeout)
    }

    /// `local_addr` (hickory's random port) is ignored: the pooled sockets
    /// have random ports of their own.
    fn bind_udp(
        &self,
        _local_addr: SocketAddr,
        server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Udp, io::Error>>>> {
        let pool = Arc::clone(&self.pool);
        Box::pin(async move {
            let shared = pool.socket_for(server_addr)?;
            let (sender, receiver) = unbounded_channel();
            Ok(PooledUdp {
                shared,
                token: pool.next_token.fetch_add(1, Ordering::Relaxed),
                sender,
                receiver: Mutex::new(receiver),
                keys: Mutex::new(Vec::new()),
            })
        })
    }
}

/// What hickory sees as the socket of one query: sends go out on a pooled
/// socket, answers to them come back through a channel.
#[derive(Debug)]
pub(crate) struct PooledUdp {
    shared: Arc<PooledSocket>,
    token: u64,
    sender: UnboundedSender<Datagram>,
    receiver: Mutex<UnboundedReceiver<Datagram>>,
    /// What this handle waits for, to unregister on drop.
    keys: Mutex<Vec<WaitKey>>,
}

impl PooledUdp {
    /// Wait for answers from `server` to the query with `id`.
    fn register(&self, server: SocketAddr, id: u16) {
        let key = wait_key(server, id);
        let mut keys = lock(&self.keys);
        if keys.contains(&key) {
            return;
        }
        keys.push(key);
        lock(&self.shared.waiters)
            .entry(key)
            .or_default()
            .push((self.token, self.sender.clone()));
    }
}

impl PooledUdp {
    /// Registered before the query leaves, so that no answer can arrive
    /// unawaited; a message without an id gets no answer anyway.
    fn register_for(&self, message: &[u8], target: SocketAddr) {
        if let Some(id) = message_id(message) {
            self.register(target, id);
        }
    }
}

impl Drop for PooledUdp {
    fn drop(&mut self) {
        let keys = std::mem::take(&mut *lock(&self.keys));
        {
            let mut waiters = lock(&self.shared.waiters);
            for key in keys {
                if let Some(handles) = waiters.get_mut(&key) {
                    handles.retain(|(token, _)| *token != self.token);
                    if handles.is_empty() {
                        waiters.remove(&key);
                    }
                }
            }
        }
        self.shared.handles.fetch_sub(1, Ordering::SeqCst);
        self.shared.close_if_unused();
    }
}

impl DnsUdpSocket for PooledUdp {
    type Time = <UdpSocket as DnsUdpSocket>::Time;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        match lock(&self.receiver).poll_recv(cx) {
            Poll::Ready(Some((data, source))) => {
                // A datagram larger than the caller's buffer is cut, as
                // recv_from on a socket would.
                let len = data.len().min(buf.len());
                if let (Some(to), Some(from)) = (buf.get_mut(..len), data.get(..len)) {
                    to.copy_from_slice(from);
                }
                Poll::Ready(Ok((len, source)))
            }
            // Unreachable while the handle holds its own sender; kept as an
            // error rather than a hang.
            Poll::Ready(None) => Poll::Ready(Err(io::Error::other("UDP socket pool closed"))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Not tokio's `poll_send_to` on the shared socket: it wakes only the
    /// last task that found the socket full, and the others would wait
    /// forever. A full socket buffer is rare; the caller is polled again.
    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.register_for(buf, target);
        match self.shared.socket.try_send_to(buf, target) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            sent => Poll::Ready(sent),
        }
    }

    /// What hickory and the fast path call: tokio's `send_to`, which lets
    /// any number of tasks wait for room on the shared socket. (The
    /// signature is what `#[async_trait]` makes of `async fn send_to`.)
    fn send_to<'life0, 'life1, 'async_trait>(
        &'life0 self,
        buf: &'life1 [u8],
        target: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<usize>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.register_for(buf, target);
            self.shared.socket.send_to(buf, target).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> (UdpSocket, SocketAddr) {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        (server, addr)
    }

    #[tokio::test]
    async fn answers_reach_the_handle_that_asked_and_strays_are_dropped() {
        let (server, addr) = echo_server().await;
        let runtime = PooledUdpRuntime::default();
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let first = runtime.bind_udp(unspecified, addr).await.unwrap();
        let second = runtime.bind_udp(unspecified, addr).await.unwrap();
        first.send_to(&[0x12, 0x34, 1], addr).await.unwrap();
        second.send_to(&[0xab, 0xcd, 2], addr).await.unwrap();
        let mut buf = [0u8; 16];
        let mut sources = Vec::new();
        for _ in 0..2 {
            let (len, from) = server.recv_from(&mut buf).await.unwrap();
            sources.push(from);
            // A stray with an id nobody asked for, then the real answer,
            // echoed back.
            server.send_to(&[0x00, 0x01, 9], from).await.unwrap();
            server.send_to(&buf[..len], from).await.unwrap();
        }
        // Round robin: the two handles went out on different sockets.
        assert_ne!(sources[0], sources[1]);
        let (len, from) = first.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..len], from), (&[0x12, 0x34, 1][..], addr));
        let (len, _) = second.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..len], &[0xab, 0xcd, 2]);
        // Nothing else is queued for either handle.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(first.poll_recv_from(&mut cx, &mut buf).is_pending());
        assert!(second.poll_recv_from(&mut cx, &mut buf).is_pending());
        // Dropped handles unregister.
        let shared = Arc::clone(&first.shared);
        drop(first);
        assert!(lock(&shared.waiters).is_empty());
    }

    #[tokio::test]
    async fn worn_pools_move_to_fresh_ports_and_old_sockets_finish_their_queries() {
        let (server, addr) = echo_server().await;
        let runtime = PooledUdpRuntime::default();
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let first = runtime.bind_udp(unspecified, addr).await.unwrap();
        let old = Arc::clone(&first.shared);
        let old_ports: Vec<u16> = {
            let current = lock(&runtime.pool.v4.current);
            let generation = current.as_ref().unwrap();
            generation
                .sockets
                .iter()
                .map(|s| s.socket.local_addr().unwrap().port())
                .collect()
        };
        for _ in 1..ROTATE_AFTER_QUERIES {
            drop(runtime.bind_udp(unspecified, addr).await.unwrap());
        }
        assert_eq!(runtime.pool.v4.generations.load(Ordering::Relaxed), 1);
        let fresh = runtime.bind_udp(unspecified, addr).await.unwrap();
        assert_eq!(runtime.pool.v4.generations.load(Ordering::Relaxed), 2);
        let fresh_port = fresh.shared.socket.local_addr().unwrap().port();
        assert!(
            !old_ports.contains(&fresh_port),
            "{fresh_port} {old_ports:?}"
        );
        // The query sent on the old generation still gets its answer.
        first.send_to(&[0x12, 0x34, 1], addr).await.unwrap();
        let mut buf = [0u8; 16];
        let (len, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(from.port(), old_ports[0]);
        server.send_to(&buf[..len], from).await.unwrap();
        let (len, _) = first.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..len], &[0x12, 0x34, 1]);
        // Its last handle gone, the old socket closes (its reader stops).
        let gone = Arc::downgrade(&old);
        drop(old);
        drop(first);
        for _ in 0..100 {
            if gone.upgrade().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone.upgrade().is_none(), "the retired socket is still open");
        // The fresh generation is untouched by that.
        assert!(!fresh.shared.retired.load(Ordering::SeqCst));
    }

    #[test]
    fn generations_wear_out_by_count_or_age() {
        let young = Generation {
            sockets: Vec::new(),
            born: Instant::now(),
            served: 0,
        };
        assert!(!young.worn());
        let busy = Generation {
            served: ROTATE_AFTER_QUERIES,
            ..young
        };
        assert!(busy.worn());
        let old = Generation {
            sockets: Vec::new(),
            born: Instant::now() - ROTATE_AFTER,
            served: 1,
        };
        assert!(old.worn());
    }

    #[tokio::test]
    async fn the_same_id_twice_reaches_both_handles() {
        let (server, addr) = echo_server().await;
        let runtime = PooledUdpRuntime::default();
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let mut handles = Vec::new();
        // POOL_SIZE + 1 handles: two of them share a socket.
        for _ in 0..=POOL_SIZE {
            let handle = runtime.bind_udp(unspecified, addr).await.unwrap();
            handle.send_to(&[0x55, 0x55, 7], addr).await.unwrap();
            handles.push(handle);
        }
        let mut buf = [0u8; 16];
        for _ in 0..=POOL_SIZE {
            let (len, from) = server.recv_from(&mut buf).await.unwrap();
            server.send_to(&buf[..len], from).await.unwrap();
        }
        for handle in &handles {
            let (len, _) = handle.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..len], &[0x55, 0x55, 7]);
        }
    }
}
