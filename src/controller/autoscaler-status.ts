// The `status` key of the cluster-autoscaler's `cluster-autoscaler-status` ConfigMap, in both formats
// it has had:
//
// - plain text up to cluster-autoscaler 1.29 (clusterstate/api/utils.go GetReadableString): a header
//   `Cluster-autoscaler status at <Go time>:`, a `Cluster-wide:` block and a `NodeGroups:` block, each
//   condition a line `  <Type>:<pad> <Status> (<key=value ...>)` followed by `LastProbeTime:` and
//   `LastTransitionTime:` lines; before initialization just `Initializing`;
// - YAML from 1.30 (clusterstate/api/types.go ClusterAutoscalerStatus): `autoscalerStatus`,
//   `clusterWide.{health,scaleUp,scaleDown}` and `nodeGroups[]` with `health.{status,nodeCounts,
//   cloudProviderTarget,minSize,maxSize,lastProbeTime}`, `scaleUp.{status,backoffInfo}`, `scaleDown`.
//
// Pure and total: anything that is not one of these (empty, cut short, another program's text) comes
// back as `{ error }` naming what is wrong, so the report can say "Unparseable" instead of guessing.
import { parseDocument } from 'yaml';
import type { AutoscalerStatus } from './types.js';

type NodeGroup = AutoscalerStatus['nodeGroups'][number];

export function parseAutoscalerStatus(text: string): AutoscalerStatus | { error: string } {
  try {
    return parseAny(text, 0);
  } catch (e) {
    // Only a bug in this file could get here; still never let a ConfigMap crash the controller.
    return { error: `cannot read the autoscaler status: ${(e as Error).message}` };
  }
}

function parseAny(text: unknown, depth: number): AutoscalerStatus | { error: string } {
  if (typeof text !== 'string') return { error: 'the autoscaler status is not a string' };
  const normalized = text.replace(/\r\n?/g, '\n');
  if (normalized.trim() === '') return { error: 'the autoscaler status is empty' };
  const firstLine = normalized.trimStart().split('\n', 1)[0]!;
  if (firstLine.startsWith('Cluster-autoscaler status at ')) return parseText(normalized);

  const doc = parseDocument(normalized, { prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    return { error: `the autoscaler status is neither the text format (it does not start with "Cluster-autoscaler status at") nor valid YAML: ${oneLine(doc.errors[0]!.message)}` };
  }
  const data: unknown = doc.toJS({ maxAliasCount: 50 });
  if (!isRecord(data)) return { error: `the autoscaler status is not in a known format: expected a YAML mapping, got ${describe(data)}` };
  // Accept a whole ConfigMap too (kubectl get -o yaml/json), so a captured object can be fed as is.
  if (data.kind === 'ConfigMap' && depth === 0) {
    const status = isRecord(data.data) ? data.data.status : undefined;
    if (typeof status !== 'string') return { error: 'the ConfigMap has no data.status' };
    return parseAny(status, depth + 1);
  }
  if (!('clusterWide' in data) && !('autoscalerStatus' in data) && !('nodeGroups' in data)) {
    return { error: `the autoscaler status is not in a known format: a mapping without clusterWide, autoscalerStatus or nodeGroups (keys: ${Object.keys(data).slice(0, 5).join(', ') || 'none'})` };
  }
  return parseYaml(data);
}

// ---------------------------------------------------------------- YAML (cluster-autoscaler >= 1.30)

function parseYaml(data: Record<string, unknown>): AutoscalerStatus | { error: string } {
  const autoscalerStatus = optString(data.autoscalerStatus);
  const wide = data.clusterWide;
  const health = isRecord(wide) && isRecord(wide.health) ? wide.health : undefined;
  const healthStatus = optString(health?.status);
  if (!healthStatus) {
    // Before its first loop the autoscaler writes only `autoscalerStatus: Initializing`.
    if (autoscalerStatus === 'Initializing') return { format: 'yaml', health: 'Unknown', autoscalerStatus, nodeGroups: [] };
    return { error: 'the autoscaler status has no clusterWide.health.status (cut short?)' };
  }
  const nodeGroups: NodeGroup[] = [];
  const groups = data.nodeGroups;
  if (groups !== undefined && groups !== null && !Array.isArray(groups)) return { error: 'nodeGroups is not a list' };
  for (const [i, g] of (Array.isArray(groups) ? groups : []).entries()) {
    const at = `nodeGroups[${i}]`;
    if (!isRecord(g)) return { error: `${at} is not a mapping` };
    const name = optString(g.name);
    if (!name) return { error: `${at} has no name` };
    const h = isRecord(g.health) ? g.health : undefined;
    const status = optString(h?.status);
    if (!h || !status) return { error: `${at} (${name}) has no health.status (cut short?)` };
    // These three carry no omitempty upstream: a group without them was cut short.
    const target = optInt(h.cloudProviderTarget);
    const minSize = optInt(h.minSize);
    const maxSize = optInt(h.maxSize);
    if (target === undefined || minSize === undefined || maxSize === undefined) {
      return { error: `${at} (${name}) lacks health.cloudProviderTarget, minSize or maxSize (cut short?)` };
    }
    const registered = isRecord(h.nodeCounts) && isRecord(h.nodeCounts.registered) ? h.nodeCounts.registered : undefined;
    const up = isRecord(g.scaleUp) ? g.scaleUp : undefined;
    const down = isRecord(g.scaleDown) ? g.scaleDown : undefined;
    const backoff = isRecord(up?.backoffInfo) ? up.backoffInfo : undefined;
    nodeGroups.push(
      clean({
        name,
        health: status,
        ready: optInt(registered?.ready),
        registered: optInt(registered?.total),
        cloudProviderTarget: target,
        minSize,
        maxSize,
        scaleUp: optString(up?.status),
        scaleDown: optString(down?.status),
        message: backoffMessage(optString(backoff?.errorCode), optString(backoff?.errorMessage)),
      }),
    );
  }
  const w = wide as Record<string, unknown>;
  return clean({
    format: 'yaml' as const,
    health: healthStatus,
    autoscalerStatus,
    lastProbeTime: optTime(health?.lastProbeTime),
    scaleUp: optString(isRecord(w.scaleUp) ? w.scaleUp.status : undefined),
    scaleDown: optString(isRecord(w.scaleDown) ? w.scaleDown.status : undefined),
    nodeGroups,
  });
}

function backoffMessage(code: string | undefined, message: string | undefined): string | undefined {
  if (code && message) return `${code}: ${message}`;
  return code ?? message;
}

// ------------------------------------------------------------------ text (cluster-autoscaler <= 1.29)

interface TextCondition {
  status: string;
  message?: string;
  lastProbeTime?: string;
  seenProbe: boolean;
  seenTransition: boolean;
  line: number;
}
type Conditions = Map<string, TextCondition>;

const HEADER = /^Cluster-autoscaler status at (.+):\s*$/;
const CONDITION = /^ {2}([A-Za-z]+):\s+(\S+)(?: \((.*)\))?\s*$/;
const TIME = /^\s+(LastProbeTime|LastTransitionTime):\s+(.*?)\s*$/;
const NAME_LINE = /^ {2}Name:\s+(\S+)\s*$/;
// getConditionsString prints this placeholder without a newline when a block has no Health condition.
const UNKNOWN_HEALTH = /^( {2}Health:\s+<unknown>)(.*)$/;

function parseText(text: string): AutoscalerStatus | { error: string } {
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  const header = HEADER.exec(lines[i]!);
  if (!header) return { error: 'line 1: expected "Cluster-autoscaler status at <time>:"' };
  if (goTime(header[1]!) === undefined) return { error: `line ${i + 1}: cannot read the time "${header[1]}"` };
  i++;
  const rest = lines.slice(i).filter((l) => l.trim() !== '');
  if (rest.length === 1 && rest[0]!.trim() === 'Initializing') return { format: 'text', health: 'Unknown', autoscalerStatus: 'Initializing', nodeGroups: [] };

  let section: 'none' | 'cluster' | 'groups' = 'none';
  const clusterWide: Conditions = new Map();
  const groups: { name: string; line: number; conditions: Conditions }[] = [];
  let last: TextCondition | undefined;
  const queue = lines.slice(i).map((l, k) => ({ text: l, n: i + k + 1 }));
  while (queue.length > 0) {
    const { text: line, n } = queue.shift()!;
    if (line.trim() === '') continue;
    if (/^Cluster-wide:\s*$/.test(line)) {
      if (section !== 'none') return { error: `line ${n}: a second "Cluster-wide:" block` };
      section = 'cluster';
      continue;
    }
    if (/^NodeGroups:\s*$/.test(line)) {
      if (section !== 'cluster') return { error: `line ${n}: "NodeGroups:" before "Cluster-wide:"` };
      section = 'groups';
      continue;
    }
    const name = NAME_LINE.exec(line);
    if (name) {
      if (section !== 'groups') return { error: `line ${n}: a node group Name outside "NodeGroups:"` };
      groups.push({ name: name[1]!, line: n, conditions: new Map() });
      last = undefined;
      continue;
    }
    const unknown = UNKNOWN_HEALTH.exec(line);
    const cond = unknown ? undefined : CONDITION.exec(line);
    if (unknown || cond) {
      const target = section === 'cluster' ? clusterWide : section === 'groups' ? groups.at(-1)?.conditions : undefined;
      if (!target) return { error: `line ${n}: a condition outside a Cluster-wide block or node group` };
      const type = unknown ? 'Health' : cond![1]!;
      last = { status: unknown ? '<unknown>' : cond![2]!, message: cond?.[3], seenProbe: !!unknown, seenTransition: !!unknown, line: n };
      target.set(type, last);
      if (unknown && unknown[2]!.trim() !== '') queue.unshift({ text: unknown[2]!, n });
      continue;
    }
    const time = TIME.exec(line);
    if (time) {
      if (!last) return { error: `line ${n}: ${time[1]} without a condition above it` };
      const value = goTime(time[2]!);
      if (value === undefined) return { error: `line ${n}: cannot read the time "${time[2]}" (cut short?)` };
      if (time[1] === 'LastProbeTime') {
        last.seenProbe = true;
        last.lastProbeTime = value || undefined;
      } else {
        last.seenTransition = true;
      }
      continue;
    }
    return { error: `line ${n}: unexpected text "${line.trim().slice(0, 80)}" (not the autoscaler's status format, or cut short)` };
  }

  const health = clusterWide.get('Health');
  if (!health) return { error: 'no "Health:" line in the Cluster-wide block (cut short?)' };
  for (const c of [...clusterWide.values(), ...groups.flatMap((g) => [...g.conditions.values()])]) {
    if (!c.seenProbe || !c.seenTransition) return { error: `line ${c.line}: the condition lacks its LastProbeTime/LastTransitionTime lines (cut short?)` };
  }
  const nodeGroups: NodeGroup[] = [];
  for (const g of groups) {
    const h = g.conditions.get('Health');
    if (!h) return { error: `line ${g.line}: node group ${g.name} has no "Health:" line (cut short?)` };
    const counts = keyValues(h.message);
    nodeGroups.push(
      clean({
        name: g.name,
        health: h.status,
        ready: counts.ready,
        registered: counts.registered,
        cloudProviderTarget: counts.cloudProviderTarget,
        minSize: counts.minSize,
        maxSize: counts.maxSize,
        scaleUp: g.conditions.get('ScaleUp')?.status,
        scaleDown: g.conditions.get('ScaleDown')?.status,
      }),
    );
  }
  return clean({
    format: 'text' as const,
    health: health.status,
    lastProbeTime: health.lastProbeTime,
    scaleUp: clusterWide.get('ScaleUp')?.status,
    scaleDown: clusterWide.get('ScaleDown')?.status,
    nodeGroups,
  });
}

/** "ready=1 unready=0 (resourceUnready=0) ... cloudProviderTarget=3 (minSize=1, maxSize=3)" → numbers. */
function keyValues(message: string | undefined): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const m of (message ?? '').matchAll(/([A-Za-z]+)=(-?\d+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

/**
 * Go's time.Time String() ("2021-04-05 08:39:11.702759465 +0000 UTC m=+442.899414715") as RFC 3339.
 * '' for Go's zero time (never probed); undefined when it is not a Go time at all.
 */
export function goTime(s: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? ([+-])(\d{2})(\d{2}) [A-Za-z0-9+-]+(?: m=[+-]\d+(?:\.\d+)?)?$/.exec(s.trim());
  if (!m) return undefined;
  if (m[1] === '0001-01-01') return '';
  const zone = m[5] === '00' && m[6] === '00' ? 'Z' : `${m[4]}${m[5]}:${m[6]}`;
  return `${m[1]}T${m[2]}${m[3] ?? ''}${zone}`;
}

/** Milliseconds since the epoch of an RFC 3339 time (any fraction digits), or undefined. */
export function rfc3339Millis(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$/.exec(s);
  if (!m) return undefined;
  const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
  const base = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  if (Number.isNaN(base)) return undefined;
  const offset = m[9] ? (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) * 60_000 : 0;
  return base - offset;
}

/**
 * The node group the clusterapi provider makes of a MachineDeployment. Its id is
 * `path.Join(Kind, Namespace, Name)`, e.g. `MachineDeployment/default/md-0`
 * (kubernetes/autoscaler cluster-autoscaler/cloudprovider/clusterapi/clusterapi_unstructured.go
 * `unstructuredScalableResource.ID()`, used by clusterapi_nodegroup.go `Id()`). Releases before the
 * provider went unstructured used `path.Join(Namespace, Name)` (clusterapi_machinedeployment.go), so
 * `default/md-0` is accepted as a fallback.
 */
export function autoscalerGroupFor(status: AutoscalerStatus, machineDeploymentName: string, namespace: string): NodeGroup | undefined {
  const groups = status.nodeGroups;
  return (
    groups.find((g) => g.name === `MachineDeployment/${namespace}/${machineDeploymentName}`) ??
    groups.find((g) => g.name === `${namespace}/${machineDeploymentName}`)
  );
}

// ----------------------------------------------------------------------------------------- helpers

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function optInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

function optTime(v: unknown): string | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  const s = optString(v);
  // Zero metav1.Time marshals as null; a few writers put the Go zero time instead.
  return s && !s.startsWith('0001-01-01') ? s : undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `the string "${oneLine(v).slice(0, 40)}"` : `a ${typeof v}`;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Drops undefined properties so results compare equal to what a JSON round trip gives. */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
