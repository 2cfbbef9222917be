// parseAutoscalerStatus against the upstream samples of both formats, and against everything that is
// not a status: it must say why, never throw.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { autoscalerGroupFor, goTime, parseAutoscalerStatus, rfc3339Millis } from '../../src/controller/autoscaler-status.js';
import type { AutoscalerStatus } from '../../src/controller/types.js';
import { sharedDir } from '../support/paths.js';

const fixture = (name: string) => readFileSync(path.join(sharedDir(), 'fixtures/cluster-autoscaler', name), 'utf8');
const legacy = fixture('status-legacy-text-bizflycloud-2021.txt');
const yaml130 = fixture('status-yaml-ca-1.30.0.yaml');
const yaml136 = fixture('status-yaml-ca-1.36.1.yaml');

function ok(text: string): AutoscalerStatus {
  const r = parseAutoscalerStatus(text);
  if ('error' in r) throw new Error(`unexpected parse error: ${r.error}`);
  return r;
}

function err(text: string): string {
  const r = parseAutoscalerStatus(text);
  if (!('error' in r)) throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.error;
}

const QUOTA = "QUOTA_EXCEEDED: Instance 'sample-node-group-40ce0341-t28s' creation failed: Quota 'CPUS' exceeded. Limit: 57.0 in region us-central1.";

describe('the upstream samples', () => {
  it('reads the legacy plain-text status (cluster-autoscaler <= 1.23 layout, BizflyCloud, 3 node groups)', () => {
    // The fixture is only the data.status value, not a ConfigMap.
    expect(legacy.startsWith('Cluster-autoscaler status at 2021-04-05 08:39:21.577044595 +0000 UTC:\n')).toBe(true);
    const group = (name: string, target: number) => ({
      name,
      health: 'Healthy',
      ready: 1,
      registered: 1,
      cloudProviderTarget: target,
      minSize: 1,
      maxSize: 3,
      scaleUp: 'InProgress',
      scaleDown: 'NoCandidates',
    });
    expect(ok(legacy)).toStrictEqual({
      format: 'text',
      health: 'Healthy',
      lastProbeTime: '2021-04-05T08:39:11.702759465Z',
      scaleUp: 'InProgress',
      scaleDown: 'NoCandidates',
      nodeGroups: [group('606ac80ef9253182e9bc8f64', 3), group('606ac820f93c27e8eb77df8d', 3), group('606ac847d7048cfe5d14ad11', 2)],
    });
  });

  it('reads the YAML status of cluster-autoscaler 1.30.0, backoff error included', () => {
    expect(yaml130.startsWith('time: ')).toBe(true); // status text, not a ConfigMap
    expect(ok(yaml130)).toStrictEqual({
      format: 'yaml',
      health: 'Healthy',
      autoscalerStatus: 'Running',
      lastProbeTime: '2023-11-24T04:28:19.000048988Z',
      scaleUp: 'NoActivity',
      scaleDown: 'NoCandidates',
      nodeGroups: [
        {
          name: 'sample-node-group',
          health: 'Healthy',
          ready: 4,
          registered: 10,
          cloudProviderTarget: 8,
          minSize: 2,
          maxSize: 12,
          scaleUp: 'Backoff',
          scaleDown: 'NoCandidates',
          message: QUOTA,
        },
      ],
    });
  });

  it('reads the YAML status of cluster-autoscaler 1.36.1 (whole-second times, registered.suspended)', () => {
    expect(ok(yaml136)).toStrictEqual({
      format: 'yaml',
      health: 'Healthy',
      autoscalerStatus: 'Running',
      lastProbeTime: '2023-11-24T04:28:19Z',
      scaleUp: 'NoActivity',
      scaleDown: 'NoCandidates',
      nodeGroups: [
        {
          name: 'sample-node-group',
          health: 'Healthy',
          ready: 4,
          registered: 11,
          cloudProviderTarget: 8,
          minSize: 2,
          maxSize: 12,
          scaleUp: 'Backoff',
          scaleDown: 'NoCandidates',
          message: QUOTA,
        },
      ],
    });
  });

  it('reads a whole ConfigMap (YAML or JSON) like its data.status', () => {
    for (const text of [legacy, yaml130]) {
      const cm = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'cluster-autoscaler-status', namespace: 'kube-system', annotations: { 'cluster-autoscaler.kubernetes.io/last-updated': '2023-11-24 04:28:19.546750398 +0000 UTC' } },
        data: { status: text },
      };
      expect(parseAutoscalerStatus(stringify(cm))).toStrictEqual(parseAutoscalerStatus(text));
      expect(parseAutoscalerStatus(JSON.stringify(cm))).toStrictEqual(parseAutoscalerStatus(text));
    }
    expect(err('apiVersion: v1\nkind: ConfigMap\ndata: {}\n')).toBe('the ConfigMap has no data.status');
  });

  it('does not care about line endings or key order (CA >= 1.36 sorts keys)', () => {
    expect(ok(legacy.replace(/\n/g, '\r\n'))).toStrictEqual(ok(legacy));
    const sorted = stringify(sortKeys(parse(yaml136)));
    expect(sorted.startsWith('autoscalerStatus: Running\nclusterWide:')).toBe(true);
    expect(ok(sorted)).toStrictEqual(ok(yaml136));
  });
});

/** The same data with every mapping's keys in alphabetical order, as sigs.k8s.io/yaml writes it. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sortKeys(x)]));
  return v;
}

describe('other shapes upstream writes', () => {
  it('reads the 1.24-1.29 text layout with resourceUnready and a clusterapi node group in backoff', () => {
    // GIVEN the layout clusterstate.go prints from 1.24 (unready=N (resourceUnready=N)), a clusterapi id
    const text = [
      'Cluster-autoscaler status at 2024-02-01 10:00:00.5 +0000 UTC:',
      'Cluster-wide:',
      '  Health:      Healthy (ready=3 unready=0 (resourceUnready=0) notStarted=0 longNotStarted=0 registered=3 longUnregistered=0)',
      '               LastProbeTime:      2024-02-01 09:59:58.1 +0000 UTC m=+100.5',
      '               LastTransitionTime: 2024-02-01 09:00:00 +0000 UTC m=+1.0',
      '  ScaleUp:     Backoff (ready=3 registered=3)',
      '               LastProbeTime:      2024-02-01 09:59:58.1 +0000 UTC m=+100.5',
      '               LastTransitionTime: 2024-02-01 09:50:00 +0000 UTC m=+60.0',
      '  ScaleDown:   CandidatesPresent (candidates=1)',
      '               LastProbeTime:      2024-02-01 09:59:58.1 +0000 UTC m=+100.5',
      '               LastTransitionTime: 2024-02-01 09:55:00 +0000 UTC m=+80.0',
      '',
      'NodeGroups:',
      '  Name:        MachineDeployment/default/md-0',
      '  Health:      Unhealthy (ready=1 unready=1 (resourceUnready=1) notStarted=0 longNotStarted=0 registered=2 longUnregistered=0 cloudProviderTarget=2 (minSize=1, maxSize=5))',
      '               LastProbeTime:      2024-02-01 09:59:58.1 +0000 UTC m=+100.5',
      '               LastTransitionTime: 2024-02-01 09:00:00 +0000 UTC m=+1.0',
      '  ScaleUp:     Backoff (ready=1 cloudProviderTarget=2)',
      '               LastProbeTime:      2024-02-01 09:59:58.1 +0000 UTC m=+100.5',
      '               LastTransitionTime: 2024-02-01 09:50:00 +0000 UTC m=+60.0',
      '  ScaleDown:   CandidatesPresent (candidates=1)',
      '               LastProbeTime:      2024-02-01 09:59:58.1 +0000 UTC m=+100.5',
      '               LastTransitionTime: 2024-02-01 09:55:00 +0000 UTC m=+80.0',
      '',
      '',
    ].join('\n');
    // THEN the counts come from the Health message, whatever nesting of parentheses it has
    expect(ok(text)).toStrictEqual({
      format: 'text',
      health: 'Healthy',
      lastProbeTime: '2024-02-01T09:59:58.1Z',
      scaleUp: 'Backoff',
      scaleDown: 'CandidatesPresent',
      nodeGroups: [
        {
          name: 'MachineDeployment/default/md-0',
          health: 'Unhealthy',
          ready: 1,
          registered: 2,
          cloudProviderTarget: 2,
          minSize: 1,
          maxSize: 5,
          scaleUp: 'Backoff',
          scaleDown: 'CandidatesPresent',
        },
      ],
    });
  });

  it('reads "Initializing" in both formats', () => {
    expect(ok('Cluster-autoscaler status at 2024-02-01 10:00:00.123 +0000 UTC:\nInitializing')).toStrictEqual({
      format: 'text',
      health: 'Unknown',
      autoscalerStatus: 'Initializing',
      nodeGroups: [],
    });
    expect(ok('time: 2024-02-01 10:00:00.123 +0000 UTC\nautoscalerStatus: Initializing\n')).toStrictEqual({
      format: 'yaml',
      health: 'Unknown',
      autoscalerStatus: 'Initializing',
      nodeGroups: [],
    });
  });

  it('reads a status without node groups and with null times (zero metav1.Time)', () => {
    const text = 'autoscalerStatus: Running\nclusterWide:\n  health: {status: Unhealthy, lastProbeTime: null}\n  scaleUp: {status: NoActivity}\n  scaleDown: {status: NoCandidates}\n';
    expect(ok(text)).toStrictEqual({ format: 'yaml', health: 'Unhealthy', autoscalerStatus: 'Running', scaleUp: 'NoActivity', scaleDown: 'NoCandidates', nodeGroups: [] });
  });

  it('reads the "<unknown>" health upstream prints without a newline', () => {
    const text = [
      'Cluster-autoscaler status at 2024-02-01 10:00:00 +0000 UTC:',
      'Cluster-wide:',
      '  Health:      <unknown>  ScaleUp:     NoActivity (ready=0 registered=0)',
      '               LastProbeTime:      2024-02-01 09:59:58 +0000 UTC',
      '               LastTransitionTime: 2024-02-01 09:00:00 +0000 UTC',
    ].join('\n');
    expect(ok(text)).toStrictEqual({ format: 'text', health: '<unknown>', scaleUp: 'NoActivity', nodeGroups: [] });
  });
});

describe('anything else is an error, never an exception', () => {
  it.each([
    ['', 'the autoscaler status is empty'],
    ['   \n\t\n', 'the autoscaler status is empty'],
    ['hello world', 'the autoscaler status is not in a known format: expected a YAML mapping, got the string "hello world"'],
    ['[1, 2]', 'the autoscaler status is not in a known format: expected a YAML mapping, got a list'],
    ['42', 'the autoscaler status is not in a known format: expected a YAML mapping, got a number'],
    ['foo: bar\nbaz: 1\n', 'the autoscaler status is not in a known format: a mapping without clusterWide, autoscalerStatus or nodeGroups (keys: foo, baz)'],
    ['Cluster-autoscaler status at yesterday:\nCluster-wide:\n', 'line 1: cannot read the time "yesterday"'],
    ['Cluster-autoscaler status at 2021-04-05 08:39:21 +0000 UTC:\nCluster-wide:\n', 'no "Health:" line in the Cluster-wide block (cut short?)'],
    ['Cluster-autoscaler status at 2021-04-05 08:39:21 +0000 UTC:\nsomething else entirely\n', 'line 2: unexpected text "something else entirely" (not the autoscaler\'s status format, or cut short)'],
    ['clusterWide:\n  health: {}\n', 'the autoscaler status has no clusterWide.health.status (cut short?)'],
    ['clusterWide: {health: {status: Healthy}}\nnodeGroups: {a: 1}\n', 'nodeGroups is not a list'],
    ['clusterWide: {health: {status: Healthy}}\nnodeGroups: [{health: {status: Healthy}}]\n', 'nodeGroups[0] has no name'],
  ])('%j', (text, message) => {
    expect(err(text)).toBe(message);
  });

  it('reports invalid YAML with the parser message', () => {
    expect(err('clusterWide: [unclosed\nnodeGroups: x')).toMatch(/^the autoscaler status is neither the text format \(it does not start with "Cluster-autoscaler status at"\) nor valid YAML: /);
  });

  it('notices a text status cut in the middle of a line or a block', () => {
    const lines = legacy.split('\n');
    // mid-way through the first node group's Health line
    const midLine = lines.slice(0, 14).join('\n') + '\n' + lines[14]!.slice(0, 40);
    expect(err(midLine)).toBe('line 15: unexpected text "Health:      Healthy (ready=1 unready=" (not the autoscaler\'s status format, or cut short)');
    // right after a node group's Name line
    expect(err(lines.slice(0, 14).join('\n'))).toBe('line 14: node group 606ac80ef9253182e9bc8f64 has no "Health:" line (cut short?)');
    // after a condition, before its time lines
    expect(err(lines.slice(0, 15).join('\n'))).toBe('line 15: the condition lacks its LastProbeTime/LastTransitionTime lines (cut short?)');
    // inside a time
    expect(err(lines.slice(0, 16).join('\n').slice(0, -30))).toBe('line 16: cannot read the time "2021-04-05 08:39:11.702759" (cut short?)');
  });

  it('notices a YAML status cut inside a node group', () => {
    const at = (needle: string) => yaml130.slice(0, yaml130.indexOf(needle));
    expect(err(at('    health:\n      status'))).toBe('nodeGroups[0] (sample-node-group) has no health.status (cut short?)');
    expect(err(at('      cloudProviderTarget'))).toBe('nodeGroups[0] (sample-node-group) lacks health.cloudProviderTarget, minSize or maxSize (cut short?)');
    expect(err(yaml130.slice(0, yaml130.indexOf('Quota') + 5))).toMatch(/nor valid YAML/);
  });

  it('never throws, whatever prefix of a real status it gets', () => {
    for (const text of [legacy, yaml130, yaml136]) {
      for (let cut = 0; cut <= text.length; cut++) {
        const r = parseAutoscalerStatus(text.slice(0, cut));
        expect(typeof r === 'object' && r !== null && ('error' in r || 'format' in r)).toBe(true);
      }
    }
  });

  it('never throws on binary noise or odd values', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let n = 0; n < 200; n++) {
      const text = Array.from({ length: Math.floor(rnd() * 200) }, () => String.fromCharCode(Math.floor(rnd() * 0x2fff))).join('');
      const r = parseAutoscalerStatus(text);
      expect('error' in r || 'format' in r).toBe(true);
    }
    for (const odd of [undefined, null, 42, {}, ['x']]) {
      expect(parseAutoscalerStatus(odd as unknown as string)).toStrictEqual({ error: 'the autoscaler status is not a string' });
    }
    expect(err('&a [*a, *a]')).toMatch(/./);
  });
});

describe('autoscalerGroupFor', () => {
  const status = (names: string[]): AutoscalerStatus => ({
    format: 'yaml',
    health: 'Healthy',
    nodeGroups: names.map((name) => ({ name, health: 'Healthy', minSize: 1, maxSize: 3 })),
  });

  it('finds the clusterapi provider id MachineDeployment/<namespace>/<name>', () => {
    const s = status(['MachineDeployment/team-a/md-0', 'MachineDeployment/team-b/md-0', 'MachinePool/team-a/md-0']);
    expect(autoscalerGroupFor(s, 'md-0', 'team-b')).toStrictEqual({ name: 'MachineDeployment/team-b/md-0', health: 'Healthy', minSize: 1, maxSize: 3 });
    expect(autoscalerGroupFor(s, 'md-1', 'team-a')).toBeUndefined();
    expect(autoscalerGroupFor(s, 'md-0', 'team-c')).toBeUndefined();
  });

  it('falls back to the <namespace>/<name> id of older clusterapi providers', () => {
    expect(autoscalerGroupFor(status(['team-a/md-0']), 'md-0', 'team-a')?.name).toBe('team-a/md-0');
  });
});

describe('time helpers', () => {
  it('turns Go time strings into RFC 3339', () => {
    expect(goTime('2021-04-05 08:39:11.702759465 +0000 UTC m=+442.899414715')).toBe('2021-04-05T08:39:11.702759465Z');
    expect(goTime('2021-04-05 10:39:11 +0200 CEST')).toBe('2021-04-05T10:39:11+02:00');
    expect(goTime('0001-01-01 00:00:00 +0000 UTC')).toBe('');
    expect(goTime('2021-04-05T08:39:11Z')).toBeUndefined();
  });

  it('reads RFC 3339 with any precision and offset', () => {
    expect(rfc3339Millis('2023-11-24T04:28:19.000048988Z')).toBe(Date.UTC(2023, 10, 24, 4, 28, 19, 0));
    expect(rfc3339Millis('2021-04-05T10:39:11.5+02:00')).toBe(Date.UTC(2021, 3, 5, 8, 39, 11, 500));
    expect(rfc3339Millis('2021-04-05 08:39:11')).toBeUndefined();
  });
});
