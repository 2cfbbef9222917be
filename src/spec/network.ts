// CIDR blocks of a cluster's network: parsed exactly (octets in range, prefix within the family,
// no host bits) so that a typo is caught here and not by kubeadm on a node that never becomes Ready.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** First address of the block. */
  start: bigint;
  /** Last address of the block. */
  end: bigint;
  prefix: number;
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; message: string; fix: string };

function v4ToBig(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v6ToBig(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4) {
    const n = v4ToBig(v4);
    text = `${text.slice(0, -v4.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function v6Text(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

function v4Text(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
}

export function parseCidr(text: string): CidrResult {
  const example = 'write it as ADDRESS/PREFIX, e.g. "192.168.0.0/16" or "fd00:10:96::/108"';
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return { ok: false, message: 'is not a CIDR block (ADDRESS/PREFIX)', fix: example };
  const [, ip, prefixText] = m as unknown as [string, string, string];
  const prefix = Number(prefixText);
  let family: 4 | 6;
  if (isIPv4(ip)) family = 4;
  else if (isIPv6(ip) && !ip.includes('%')) family = 6;
  else if (/^[0-9.]+$/.test(ip)) {
    const bad = ip.split('.').find((o) => o === '' || Number(o) > 255 || (o.length > 1 && o.startsWith('0')));
    return {
      ok: false,
      message:
        'is not a CIDR block: ' +
        (ip.split('.').length !== 4
          ? `"${ip}" is not an IPv4 address: it needs four numbers separated by "."`
          : bad !== undefined && Number(bad) > 255
            ? `"${ip}" is not an IPv4 address: ${bad} is out of range (each of the four numbers is 0 to 255)`
            : `"${ip}" is not an IPv4 address: write each number without leading zeros`),
      fix: example,
    };
  } else return { ok: false, message: `is not a CIDR block: "${ip}" is not an IPv4 or IPv6 address`, fix: example };
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return { ok: false, message: `has a prefix /${prefix} longer than an IPv${family} address (${bits} bits)`, fix: `use a prefix from 0 to ${bits}` };
  const addr = family === 4 ? v4ToBig(ip) : v6ToBig(ip);
  const hostBits = BigInt(bits - prefix);
  const start = (addr >> hostBits) << hostBits;
  if (start !== addr) {
    const net = `${family === 4 ? v4Text(start) : v6Text(start)}/${prefix}`;
    return { ok: false, message: `has host bits set: the block /${prefix} starts at ${net}`, fix: `write "${net}"` };
  }
  return { ok: true, cidr: { family, start, end: start + (1n << hostBits) - 1n, prefix } };
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}
