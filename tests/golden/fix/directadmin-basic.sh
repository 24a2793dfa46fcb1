#!/bin/sh
set -eu
# mxdrift fix --commands: remediation for a directadmin server. Review it, then run it as root on the server.
# The DNS evidence was read from zone files (--zone-file): nothing a spoofer can forge, so no change needed confirming over TCP.
#
# Before you run it:
#   - turning local delivery off loses nothing, but the mail already delivered stays in the local mailboxes: tell the customers, or move it to their new provider
#   - aliases and forwarders of those domains on this server stop working (mail sent on this server goes to the domain's real MX instead)

# DirectAdmin API access. Set these before running the script:
#   DA_URL        the panel, e.g. https://da1.hoster.test:2222 (TLS is verified)
#   DA_ADMIN      an admin account, e.g. admin
#   DA_LOGIN_KEY  a login key of that admin allowed to use CMD_API_DNS_MX
# Each call logs in as "DA_ADMIN|owner" (DirectAdmin's login-as) so that it
# acts on the domain's owner.
: "${DA_URL:?set DA_URL to the DirectAdmin panel URL}"
: "${DA_ADMIN:?set DA_ADMIN to a DirectAdmin admin account}"
: "${DA_LOGIN_KEY:?set DA_LOGIN_KEY to a login key of DA_ADMIN}"
da_api() {
    da_owner=$1
    shift
    printf 'user = "%s|%s:%s"\n' "$DA_ADMIN" "$da_owner" "$DA_LOGIN_KEY" |
        curl --config - --fail --silent --show-error "$@"
}

# crlf.test: mail-switch-on (critical)
# evidence: delivered locally, but mail goes elsewhere: MX 10 mx1.elsewhere.test [198.51.100.7] (TTL 3600); declared at etc/virtual/domains:15
# declared: etc/virtual/domains:15 (local_domains)
da_api 'bob' --data-urlencode action=internal --data-urlencode 'domain=crlf.test' --data-urlencode internal=no "${DA_URL}/CMD_API_DNS_MX"

# expired.test: domain-not-found (critical)
# evidence: delivered locally, but the domain does not exist: NXDOMAIN (TTL 300); declared at etc/virtual/domains:6
# declared: etc/virtual/domains:6 (local_domains)
da_api 'dave' --data-urlencode action=internal --data-urlencode 'domain=expired.test' --data-urlencode internal=no "${DA_URL}/CMD_API_DNS_MX"

# moved.test: mail-switch-on (critical)
# evidence: delivered locally, but mail goes elsewhere: MX 0 mx1.elsewhere.test [198.51.100.7] (TTL 3600); declared at etc/virtual/domains:2
# declared: etc/virtual/domains:2 (local_domains)
# declared: etc/virtual/domains:10 (local_domains)
da_api 'bob' --data-urlencode action=internal --data-urlencode 'domain=moved.test' --data-urlencode internal=no "${DA_URL}/CMD_API_DNS_MX"

# nomail.test: null-mx-delivered-locally (warning)
# evidence: delivered locally, but the domain accepts no mail: null MX (MX 0 .) (TTL 3600); declared at etc/virtual/domains:5
# declared: etc/virtual/domains:5 (local_domains)
da_api 'alice' --data-urlencode action=internal --data-urlencode 'domain=nomail.test' --data-urlencode internal=no "${DA_URL}/CMD_API_DNS_MX"

# Left for a human (not changed):
#   - backup.test (backup-mx-delivers-locally): directadmin has no per-domain backup-MX (relay) mode mxdrift can switch; make this server a relay for the domain by hand, or remove it from the domain's MX records
#   - brokenmx.test (mx-host-unresolvable): an MX host of the domain has no address: the DNS is broken, not this server; fix the DNS first
#   - legacy.invalid (lookup-inconclusive): DNS did not answer conclusively; never remediated
#   - split.test (split-delivery): this server shares the best MX preference with foreign hosts; some setups split delivery on purpose, so decide which server should receive the mail
#   - webonly.test (mx-points-here-not-local): the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)
