/** The SSRF guard's classifier and its DNS lookup, without I/O (the resolver is a table). */
import { describe, expect, it } from 'vitest';
import { AddressNotAllowedError, classifyAddress, guardedLookup, refusedHost, type Resolver } from '../../src/automation/address-guard.js';

describe('classifyAddress, IPv4', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.0', 'private'],
    ['100.127.255.255', 'private'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'reserved'],
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });

  it.each(['8.8.8.8', '172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '169.253.255.255', '169.255.0.0', '11.0.0.0', '9.255.255.255', '223.255.255.255', '1.1.1.1'])(
    '%s (just outside a refused range, or public) is allowed',
    (address) => {
      expect(classifyAddress(address)).toBeNull();
    },
  );
});

describe('classifyAddress, IPv6', () => {
  it.each([
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fdff:ffff::1', 'private'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    // IPv4-mapped, dotted and hexadecimal, and the other forms that carry an IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::192.168.0.1', 'private'],
    ['2002:7f00:1::', 'loopback'],
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });

  it.each(['2001:4860:4860::8888', '2606:4700:4700::1111', '::ffff:8.8.8.8', 'fbff::1', 'fe00::1', '2001:db8::1'])(
    '%s is allowed',
    (address) => {
      expect(classifyAddress(address)).toBeNull();
    },
  );

  it('a name is not an address', () => {
    expect(classifyAddress('example.com')).toBeNull();
  });
});

describe('refusedHost (write time: literal hosts and localhost)', () => {
  it.each(['localhost', 'LOCALHOST', 'localhost.', 'api.localhost', '127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '10.0.0.5', '169.254.169.254'])(
    '%s is refused',
    (host) => {
      expect(refusedHost(host)).toMatch(/loopback|private|link-local/);
    },
  );

  it('URL parsing normalises the other spellings of 127.0.0.1 before the check', () => {
    for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://127.1/', 'http://[0:0:0:0:0:ffff:7f00:1]/']) {
      expect(refusedHost(new URL(url).hostname), url).not.toBeNull();
    }
  });

  it.each(['example.com', 'localhost.example.com', '8.8.8.8', '[2001:db8::1]'])('%s is allowed on write', (host) => {
    expect(refusedHost(host)).toBeNull();
  });
});

/** Calls a lookup as net.connect does, with `all` set or not. */
function lookupWith(resolver: Resolver, allowPrivate: boolean, host: string, all: boolean) {
  const lookup = guardedLookup(resolver, allowPrivate);
  return new Promise<unknown>((resolve, reject) => {
    lookup(host, { all } as never, ((err: Error | null, address: unknown) => (err === null ? resolve(address) : reject(err))) as never);
  });
}

describe('guardedLookup (delivery time: every resolved address is checked)', () => {
  const table: Record<string, string[]> = {
    'public.test': ['93.184.216.34'],
    'loop.test': ['127.0.0.1'],
    'mixed.test': ['93.184.216.34', '10.0.0.1'],
    'v6loop.test': ['::1'],
  };
  const resolver: Resolver = async (host) => (table[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it('hands on the addresses of a public name', async () => {
    await expect(lookupWith(resolver, false, 'public.test', true)).resolves.toEqual([{ address: '93.184.216.34', family: 4 }]);
    await expect(lookupWith(resolver, false, 'public.test', false)).resolves.toBe('93.184.216.34');
  });

  it.each(['loop.test', 'mixed.test', 'v6loop.test', 'localhost', '127.0.0.1'])('refuses %s', async (host) => {
    const err = await lookupWith(resolver, false, host, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressNotAllowedError);
    expect((err as Error).message).toMatch(/^address not allowed/);
  });

  it('allows them all with allowPrivate', async () => {
    await expect(lookupWith(resolver, true, 'loop.test', true)).resolves.toEqual([{ address: '127.0.0.1', family: 4 }]);
    await expect(lookupWith(resolver, true, 'mixed.test', false)).resolves.toBe('93.184.216.34');
  });
});
