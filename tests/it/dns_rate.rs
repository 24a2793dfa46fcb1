//! `--max-qps`: the token bucket limits the rate of queries the server
//! receives. Counted at the server over a short window, with a loose bound.

use std::fmt::Write as _;
use std::time::Duration;

use crate::common::dns::{domain, live_options};
use crate::common::dns_server::DnsServer;
use mxdrift::resolve::gather;

const DOMAINS: usize = 400;
const MAX_QPS: u32 = 50;

fn zone() -> String {
    let mut zone = String::from(
        "$ORIGIN rate.test.\n$TTL 300\n@ IN SOA ns1.rate.test. hostmaster.rate.test. 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 127.0.0.1\nmx IN A 192.0.2.25\n",
    );
    for i in 0..DOMAINS {
        writeln!(zone, "d{i:03} IN MX 10 mx.rate.test.").unwrap();
    }
    zone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_qps_limits_the_rate_at_the_server() {
    let server = DnsServer::start(&zone()).await;
    let mut opts = live_options(&[server.addr()]);
    opts.concurrency = 64;
    opts.max_qps = Some(MAX_QPS);
    let names: Vec<_> = (0..DOMAINS)
        .map(|i| domain(&format!("d{i:03}.rate.test")))
        .collect();

    // Without the limit these 400 domains resolve in well under a second on
    // loopback; with it they would take 8 s. Watch one second of it.
    let run = tokio::spawn(async move { gather(&names, &opts).await.map(|r| r.queries_sent) });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let early = server.received().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let late = server.received().len();
    run.abort();

    let in_window = late - early;
    // One second at 50 queries per second; loose bounds for a busy machine
    // (a late wake-up sends fewer, never more, than the pace allows).
    assert!(
        in_window <= 2 * MAX_QPS as usize,
        "{in_window} queries in 1 s"
    );
    assert!(
        in_window >= 5,
        "only {in_window} queries in 1 s: not running?"
    );
    // Since the start at most the burst (5) plus 50 per second: 2.5 s.
    assert!(late <= 5 + 50 * 3 + 20, "{late} queries in 2.5 s");
}
