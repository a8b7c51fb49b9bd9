/**
 * The SSRF guard of webhook delivery: which addresses a webhook may never reach (loopback,
 * private, link-local, multicast, unspecified, reserved — also when written as an IPv4-mapped or
 * otherwise embedded IPv6 address), checked on write for literal hosts and `localhost`, and at
 * delivery by a DNS lookup that checks every address it hands to the socket, so that the
 * connection goes to an address that was checked (no window for DNS rebinding).
 * @see PROTOCOL.md §12
 */
import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

/** Why an address is refused. */
export type AddressClass = 'loopback' | 'private' | 'link-local' | 'multicast' | 'unspecified' | 'reserved';

/** An IPv4 range: first address as a 32-bit number, prefix length, and its class. */
type V4Range = readonly [base: number, bits: number, cls: AddressClass];

const V4_RANGES: readonly V4Range[] = [
  [v4('0.0.0.0'), 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'private'], // carrier-grade NAT (RFC 6598)
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link-local'], // also cloud metadata services (169.254.169.254)
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'], // IETF protocol assignments
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'], // benchmarking
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('240.0.0.0'), 4, 'reserved'], // includes the broadcast address 255.255.255.255
];

/** The class of a refused address, or null when a webhook may reach it. Not an IP: null. */
export function classifyAddress(address: string): AddressClass | null {
  const ip = stripBrackets(address);
  const family = isIP(ip);
  if (family === 4) return classifyV4(v4(ip));
  if (family === 6) return classifyV6(parseV6(ip));
  return null;
}

/** Is `host` (a URL's hostname: a name or a literal address) refused without resolving it? */
export function refusedHost(host: string): string | null {
  const name = stripBrackets(host).toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return `${name} is a loopback name`;
  const cls = classifyAddress(name);
  return cls === null ? null : `${name} is a ${cls} address`;
}

/** The error of a connection refused by the guard; `fetch` reports it as its `cause`. */
export class AddressNotAllowedError extends Error {
  readonly code = 'EADDRNOTALLOWED';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly addressClass: AddressClass | 'name',
  ) {
    super(
      addressClass === 'name'
        ? `address not allowed: ${host} is a loopback name`
        : `address not allowed: ${host === address ? address : `${host} resolves to ${address}`}, a ${addressClass} address`,
    );
    this.name = 'AddressNotAllowedError';
  }
}

/** One resolved address, as `dns.lookup` with `all: true` gives them. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a name to its addresses (the default is the system resolver, `dns.lookup`). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err !== null) reject(err);
      else resolve(addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  });

/**
 * A `lookup` for `net.connect` (and so for undici's `connect.lookup`) that resolves with
 * `resolver` and fails with {@link AddressNotAllowedError} when any address is refused: the
 * socket connects only to addresses this function checked. `allowPrivate` skips the check.
 */
export function guardedLookup(resolver: Resolver, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const done = callback as (err: Error | null, address: string | ResolvedAddress[], family?: number) => void;
    const check = async (): Promise<ResolvedAddress[]> => {
      const name = hostname.toLowerCase().replace(/\.$/, '');
      if (!allowPrivate && (name === 'localhost' || name.endsWith('.localhost'))) throw new AddressNotAllowedError(hostname, name, 'name');
      // A literal needs no resolving (net.connect does not even call lookup for one).
      const literal = isIP(stripBrackets(hostname));
      let addresses: ResolvedAddress[] =
        literal === 0 ? await resolver(hostname) : [{ address: stripBrackets(hostname), family: literal === 6 ? 6 : 4 }];
      if (options.family === 4 || options.family === 6) addresses = addresses.filter((a) => a.family === options.family);
      if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
      if (!allowPrivate) {
        for (const { address } of addresses) {
          const cls = classifyAddress(address);
          if (cls !== null) throw new AddressNotAllowedError(hostname, address, cls);
        }
      }
      return addresses;
    };
    check().then(
      (addresses) => {
        if (options.all === true) done(null, addresses);
        else done(null, (addresses[0] as ResolvedAddress).address, (addresses[0] as ResolvedAddress).family);
      },
      (err: Error) => done(err, options.all === true ? [] : '', 0),
    );
  };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number. */
function v4(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function classifyV4(n: number): AddressClass | null {
  for (const [base, bits, cls] of V4_RANGES) {
    const size = 2 ** (32 - bits);
    if (n >= base && n < base + size) return cls;
  }
  return null;
}

/** An IPv6 address (as `isIP` accepts it: `::`, embedded dotted quad, zone id) as 8 groups. */
function parseV6(address: string): number[] {
  let text = address.split('%')[0] as string;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const n = v4(dotted[1] as string);
    tail.push(Math.floor(n / 65536), n % 65536);
    text = text.slice(0, -(dotted[1] as string).length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const zeros = 8 - left.length - right.length - tail.length;
  return [...left, ...Array<number>(Math.max(0, zeros)).fill(0), ...right, ...tail];
}

function classifyV6(g: number[]): AddressClass | null {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = g6 * 65536 + g7;
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0) {
    if (g5 === 0 && g6 === 0 && (g7 === 0 || g7 === 1)) return g7 === 0 ? 'unspecified' : 'loopback';
    // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated) reach the IPv4 address.
    if (g5 === 0xffff || g5 === 0) return classifyV4(embedded);
  }
  // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) carry an IPv4 address too.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4(embedded);
  if (g0 === 0x2002) return classifyV4(g1 * 65536 + g2);
  if ((g0 & 0xfe00) === 0xfc00) return 'private'; // fc00::/7 unique local
  if ((g0 & 0xffc0) === 0xfe80) return 'link-local'; // fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // fec0::/10 site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return 'multicast'; // ff00::/8
  return null;
}
