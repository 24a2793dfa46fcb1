#!/bin/sh
set -eu
# mxdrift fix --commands: remediation for a plesk server. Review it, then run it as root on the server.
# The DNS evidence was read from zone files (--zone-file): nothing a spoofer can forge, so no change needed confirming over TCP.
#
# Before you run it:
#   - turning local delivery off loses nothing, but the mail already delivered stays in the local mailboxes: tell the customers, or move it to their new provider
#   - aliases and forwarders of those domains on this server stop working (mail sent on this server goes to the domain's real MX instead)

# expired.test: domain-not-found (critical)
# evidence: delivered locally, but the domain does not exist: NXDOMAIN (TTL 300); declared at var/qmail/control/virtualdomains:6
# declared: var/qmail/control/virtualdomains:6 (virtualdomains)
# declared: var/qmail/control/rcpthosts:7 (rcpthosts)
plesk bin site --update 'expired.test' -mail_service false

# moved.test: mail-switch-on (critical)
# evidence: delivered locally, but mail goes elsewhere: MX 0 mx1.elsewhere.test [198.51.100.7] (TTL 3600); declared at var/qmail/control/virtualdomains:2
# declared: var/qmail/control/virtualdomains:2 (virtualdomains)
# declared: var/qmail/control/rcpthosts:3 (rcpthosts)
plesk bin subscription --update 'moved.test' -mail_service false

# nomail.test: null-mx-delivered-locally (warning)
# evidence: delivered locally, but the domain accepts no mail: null MX (MX 0 .) (TTL 3600); declared at var/qmail/control/virtualdomains:5
# declared: var/qmail/control/virtualdomains:5 (virtualdomains)
# declared: var/qmail/control/rcpthosts:6 (rcpthosts)
plesk bin site --update 'nomail.test' -mail_service false

# Left for a human (not changed):
#   - backup.test (backup-mx-delivers-locally): plesk has no per-domain backup-MX (relay) mode mxdrift can switch; make this server a relay for the domain by hand, or remove it from the domain's MX records
#   - brokenmx.test (mx-host-unresolvable): an MX host of the domain has no address: the DNS is broken, not this server; fix the DNS first
#   - legacy.invalid (lookup-inconclusive): DNS did not answer conclusively; never remediated
#   - split.test (split-delivery): this server shares the best MX preference with foreign hosts; some setups split delivery on purpose, so decide which server should receive the mail
#   - webonly.test (mx-points-here-not-local): the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)
