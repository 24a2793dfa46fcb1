#!/bin/sh
set -eu
# mxdrift fix --commands: remediation for a cpanel server. Review it, then run it as root on the server.
# The DNS evidence was read from zone files (--zone-file): nothing a spoofer can forge, so no change needed confirming over TCP.
#
# Before you run it:
#   - turning local delivery off loses nothing, but the mail already delivered stays in the local mailboxes: tell the customers, or move it to their new provider
#   - aliases and forwarders of those domains on this server stop working (mail sent on this server goes to the domain's real MX instead)

# moved.test: mail-switch-on (critical)
# evidence: delivered locally, but mail goes elsewhere: MX 0 mx1.elsewhere.test [198.51.100.7] (TTL 3600); declared at etc/localdomains:6
# declared: etc/localdomains:6 (local_domains)
uapi '--user=mainuser' Email set_always_accept 'domain=moved.test' alwaysaccept=remote

# Left for a human (not changed):
#   - addon.main.test (domain-not-found): the finding is at info level; never remediated
#   - crlf.test (mail-switch-on): etc/localdomains:10 is written so that cPanel's own tools cannot remove it (cPanel removes a line only when it is the lower-case name followed by a colon or a newline), so uapi would leave the domain local; write the line as the plain name, then run mxdrift fix again
#   - forced.test (mail-switch-on): forced local in cPanel: cPanel Email Routing is forced to Local (MXCHECK-forced.test=0 at var/cpanel/users/forceduser:11); the admin chose local delivery on purpose (often a filtering service in front of this server), so change the Email Routing by hand if it is really wrong
#   - system-dom.test (mail-switch-on): owned by nobody, a cPanel system domain without an account (var/cpanel/users/system:3): uapi cannot act as nobody; change the domain's mail routing in WHM by hand
#   - trailing-dot.test (mx-points-here-not-local): the MX points here but this server does not accept the domain's mail; turn mail on in the panel or change the MX (mxdrift never turns delivery on)
