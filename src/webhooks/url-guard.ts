import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { UserError } from '../errors';

/**
 * The SSRF guard. Endpoint URLs are chosen by strangers, so by default they may reach only public
 * unicast addresses: never loopback, private, link-local (cloud metadata lives there), unique-local,
 * carrier-grade NAT, multicast or reserved ranges, in IPv4, IPv6 or IPv4-mapped IPv6 form.
 */
export interface UrlPolicy {
  allowHttp: boolean;
  /** 'all' lifts the guard (development); otherwise these ranges are allowed besides public ones. */
  allowPrivate: 'all' | [ipaddr.IPv4 | ipaddr.IPv6, number][];
}

/** `HOOKFLOW_ALLOW_PRIVATE_URLS`: unset or "false", "true", or a comma-separated CIDR allow-list. */
export function parsePrivateAllowList(value: string | undefined): UrlPolicy['allowPrivate'] {
  if (value === undefined || value.trim() === '' || value.trim() === 'false') return [];
  if (value.trim() === 'true') return 'all';
  return value.split(',').map((cidr) => ipaddr.parseCIDR(cidr.trim()));
}

const normalize = (address: string) => {
  const parsed = ipaddr.parse(address);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
};

/** null if the address may be reached, else why not. */
export function blockedAddress(address: string, policy: UrlPolicy): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const parsed = normalize(address);
  const range = parsed.range();
  if (range === 'unicast' || policy.allowPrivate === 'all') return null;
  if (policy.allowPrivate.some(([net, bits]) => net.kind() === parsed.kind() && parsed.match(net, bits))) return null;
  return `${address} is a ${range} address`;
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/**
 * Checks an endpoint URL at registration. The WHATWG parser has already turned decimal, octal and hex
 * IPv4 forms (http://2130706433/, http://0177.0.0.1/) into dotted quads, so they are checked as such.
 */
export function assertUrlAllowed(raw: string, policy: UrlPolicy): void {
  const url = new URL(raw);
  if (url.protocol === 'http:' && !policy.allowHttp) {
    throw new UserError('INVALID_URL', 'url: must use https (http is refused unless HOOKFLOW_ALLOW_HTTP=true)', 'url');
  }
  const host = hostOf(url);
  const why = ipaddr.isValid(host)
    ? blockedAddress(host, policy)
    : /(^|\.)localhost\.?$/i.test(host) && policy.allowPrivate !== 'all'
      ? `${host} names this machine`
      : null;
  if (why) {
    throw new UserError('URL_NOT_ALLOWED', `url: ${why}; endpoints must be reachable on the public internet`, 'url');
  }
}

export class BlockedAddressError extends Error {
  readonly code = 'HOOKFLOW_SSRF_BLOCKED';
}

/** At delivery, before connecting: an IP-literal host is not resolved, so it is checked here. */
export function blockedTarget(raw: string, policy: UrlPolicy): string | null {
  const host = hostOf(new URL(raw));
  return ipaddr.isValid(host) ? blockedAddress(host, policy) : null;
}

/**
 * The DNS lookup undici connects with: every address is checked after resolution and the socket
 * connects to a checked one, so a name that rebinds to a private address between checks is refused.
 */
export function guardedLookup(policy: UrlPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const allowed = (addresses as dns.LookupAddress[]).filter((a) => blockedAddress(a.address, policy) === null);
      if (allowed.length === 0) {
        const why = (addresses as dns.LookupAddress[]).map((a) => blockedAddress(a.address, policy)).join('; ');
        return callback(new BlockedAddressError(`refused to connect to ${hostname}: ${why}`), '', 0);
      }
      if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, allowed);
      return callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}
