// Kubernetes names derived from user names: DNS-1123, bounded length, and when a name has to be cut,
// a short stable hash of the whole keeps it unique.
import { createHash } from 'node:crypto';

export function shortHash(s: string, length = 6): string {
  return createHash('sha256').update(s).digest('hex').slice(0, length);
}

/** Joins parts with "-", lower-cases, and cuts to `max` with a hash suffix when too long. */
export function dnsName(parts: string[], max = 63): string {
  const joined = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (joined.length <= max) return joined;
  const hash = shortHash(joined);
  return `${joined.slice(0, max - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}
