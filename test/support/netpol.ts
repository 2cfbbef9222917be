// A NetworkPolicy evaluator with the semantics of networking.k8s.io/v1 as the Kubernetes docs and the
// upstream conformance tests define them; no CNI runs here, so this is what judges the rendered policies.
//
// - A pod is isolated for ingress (egress) when some policy in its namespace selects it and that
//   policy's policyTypes contain Ingress (Egress). policyTypes defaults to [Ingress], plus Egress when
//   the policy has egress rules.
// - Traffic from A to B is allowed when A's egress allows it and B's ingress allows it. Each direction
//   is allowed when the pod is not isolated for it, or when any rule of any policy selecting it matches
//   (the union of rules).
// - A rule matches when one of its peers matches (no peers: everyone) and one of its ports matches
//   (no ports: every port). A peer is podSelector (pods in the policy's namespace), namespaceSelector
//   (all pods in matching namespaces), both (pods matching in matching namespaces), or ipBlock (cidr
//   minus except; for pods too, as Calico and Cilium apply it to pod IPs).
// - A port is protocol (default TCP) plus a number, a range (port..endPort) or a name; a name is the
//   containerPort name on the destination pod.
// - Traffic from a node to its pods (kubelet probes) is not modelled: every common CNI allows it.

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PortSpec {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: PortSpec[];
}
export interface NetworkPolicy {
  metadata: { name: string; namespace: string };
  spec: { podSelector: LabelSelector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}

export interface Endpoint {
  /** Display name in test output. */
  name: string;
  ip: string;
  /** Set for a pod; unset for an address outside the cluster's pods (the internet, a node). */
  pod?: { namespace: string; labels: Record<string, string>; ports?: { name?: string; containerPort: number; protocol?: string }[] };
}

export interface World {
  namespaces: Record<string, Record<string, string>>;
  policies: NetworkPolicy[];
}

export function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !e.values!.includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && e.values!.includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${String(e.operator)}`);
    }
  }
  return true;
}

function ipv4(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = Number(bits);
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return ((ipv4(ip) & mask) >>> 0) === ((ipv4(base!) & mask) >>> 0);
}

function policyTypes(p: NetworkPolicy): string[] {
  return p.spec.policyTypes ?? (p.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
}

function peerMatches(world: World, peer: Peer, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) {
    return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c));
  }
  if (!other.pod) return false;
  if (peer.namespaceSelector) {
    const nsLabels = world.namespaces[other.pod.namespace];
    if (!nsLabels) throw new Error(`namespace ${other.pod.namespace} is not in the world`);
    if (!selects(peer.namespaceSelector, nsLabels)) return false;
  } else if (other.pod.namespace !== policyNamespace) return false;
  return selects(peer.podSelector, other.pod.labels);
}

function portMatches(spec: PortSpec, port: number, protocol: string, destination: Endpoint): boolean {
  if ((spec.protocol ?? 'TCP') !== protocol) return false;
  if (spec.port === undefined) return true;
  if (typeof spec.port === 'string') {
    // A named port means the destination pod's containerPort of that name (and protocol).
    const named = destination.pod?.ports?.find((p) => p.name === spec.port && (p.protocol ?? 'TCP') === protocol);
    return named?.containerPort === port;
  }
  return spec.endPort === undefined ? spec.port === port : port >= spec.port && port <= spec.endPort;
}

function ruleMatches(world: World, rule: Rule, peers: Peer[] | undefined, policyNs: string, other: Endpoint, port: number, protocol: string, destination: Endpoint): boolean {
  const peerOk = !peers || peers.length === 0 || peers.some((p) => peerMatches(world, p, policyNs, other));
  const portOk = !rule.ports || rule.ports.length === 0 || rule.ports.some((p) => portMatches(p, port, protocol, destination));
  return peerOk && portOk;
}

function directionAllows(world: World, type: 'Ingress' | 'Egress', self: Endpoint, other: Endpoint, port: number, protocol: string): boolean {
  if (!self.pod) return true; // addresses outside the cluster's pods are not policed here
  const selecting = world.policies.filter(
    (p) => p.metadata.namespace === self.pod!.namespace && selects(p.spec.podSelector, self.pod!.labels) && policyTypes(p).includes(type),
  );
  if (selecting.length === 0) return true;
  const destination = type === 'Ingress' ? self : other;
  return selecting.some((p) =>
    (type === 'Ingress' ? p.spec.ingress : p.spec.egress)?.some((r) =>
      ruleMatches(world, r, type === 'Ingress' ? r.from : r.to, p.metadata.namespace, other, port, protocol, destination),
    ),
  );
}

/** Whether a connection from `from` to `to` on `port`/`protocol` is allowed by the policies. */
export function allowed(world: World, from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  return directionAllows(world, 'Egress', from, to, port, protocol) && directionAllows(world, 'Ingress', to, from, port, protocol);
}
