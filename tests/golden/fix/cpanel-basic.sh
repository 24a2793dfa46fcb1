#!/bin/sh
set -eu
# mxdrift fix --commands: remediation for a cpanel server. Review it, then run it as root on the server.
# The DNS evidence was read from zone files (--zone-file): nothing a spoofer can forge, so no change needed confirming over TCP.
#
# Before you run it:
#   - turning local delivery off loses nothing, but the mail already delivered stays in the local mailboxes: tell the customers, or move it to their new provider
#   - aliases and forwarders of those domains on this server stop working (mail sent on this server goes to the domain's real MX instead)

# backup.test: backup-mx-delivers-locally (warning)
# evidence: only a backup MX, but delivered locally: MX 10 mx1.elsewhere.test [198.51.100.7], 20 mail.hoster.test [203.0.113.10] (TTL 3600); declared at etc/localdomains:5
# declared: etc/localdomains:5 (local_domains)
uapi '--user=shopuser' Email set_always_accept 'domain=backup.test' alwaysaccept=secondary

# conflict.test: mail-switch-on (critical)
# evidence: delivered locally, but mail goes elsewhere: MX 0 mx1.elsewhere.test [198.51.100.7] (TTL 3600); declared at etc/localdomains:13
# declared: etc/localdomains:13 (local_domains)
# declared: etc/remotedomains:4 (remotedomains)
uapi '--user=movedco' Email set_always_accept 'domain=conflict.test' alwaysaccept=remote

# expired.test: domain-not-found (critical)
# evidence: delivered locally, but the domain does not exist: NXDOMAIN (TTL 300); declared at etc/localdomains:9
# declared: etc/localdomains:9 (local_domains)
uapi '--user=oldclient' Email set_always_accept 'domain=expired.test' alwaysaccept=remote

# moved.test: mail-switch-on (critical)
# evidence: delivered locally, but mail goes elsewhere: MX 0 mx1.elsewhere.test [198.51.100.7] (TTL 3600); declared at etc/localdomains:4
# declared: etc/localdomains:4 (local_domains)
uapi '--user=movedco' Email set_always_accept 'domain=moved.test' alwaysaccept=remote

# nomail.test: null-mx-delivered-locally (warning)
# evidence: delivered locally, but the domain accepts no mail: null MX (MX 0 .) (TTL 3600); declared at etc/localdomains:8
# declared: etc/localdomains:8 (local_domains)
uapi '--user=shopuser' Email set_always_accept 'domain=nomail.test' alwaysaccept=remote

# Left for a human (not changed):
#   - brokenmx.test (mx-host-unresolvable): an MX host of the domain has no address: the DNS is broken, not this server; fix the DNS first
#   - legacy.invalid (lookup-inconclusive): DNS did not answer conclusively; never remediated
#   - split.test (split-delivery): this server shares the best MX preference with foreign hosts; some setups split delivery on purpose, so decide which server should receive the mail
#   - stale-remote.test (mx-points-here-not-local): the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)
#   - xn--bcher-kva.test (mx-points-here-not-local): the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)
