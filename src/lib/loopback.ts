// Whether a host a server binds is reachable only from this machine: 127.0.0.0/8, ::1 (also written
// [::1] or as an IPv4-mapped ::ffff:127.x.y.z) and the name localhost. Anything else (0.0.0.0, ::,
// a LAN address, a host name) may face the network.

import { BlockList, isIP } from 'node:net';

const kLoopback = new BlockList();
kLoopback.addSubnet('127.0.0.0', 8, 'ipv4');
kLoopback.addAddress('::1', 'ipv6');
kLoopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

export function isLoopbackHost(host: string): boolean {
  const bare = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  const family = isIP(bare);
  if (family === 0) return false;
  return kLoopback.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}
