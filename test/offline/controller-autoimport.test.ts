// When the controller labels a Cluster for Rancher auto-import, and the label selectors that decide
// which clusters it manages.
import { describe, expect, it } from 'vitest';
import {
  autoImportDecision,
  managedBy,
  matchesLabelSelector,
  parseGoBool,
  parseLabelSelector,
  type LabelSelector,
} from '../../src/controller/autoimport.js';
import type { ObjectLike } from '../../src/controller/report.js';

const IMPORT = 'cluster-api.cattle.io/rancher-auto-import';

function cluster(labels: Record<string, string> = {}, annotations?: Record<string, string>, deleting = false): ObjectLike {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'c1', namespace: 'team-a', labels, annotations, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
  };
}

function namespace(labels: Record<string, string> = {}): ObjectLike {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels } };
}

const always = { managed: () => true };
const never = { managed: () => false };

function selector(text: string): LabelSelector {
  const s = parseLabelSelector(text);
  if ('error' in s) throw new Error(s.error);
  return s;
}

describe('parseGoBool (strconv.ParseBool, as Turtles reads the label)', () => {
  it.each([
    ['1', true],
    ['t', true],
    ['T', true],
    ['TRUE', true],
    ['true', true],
    ['True', true],
    ['0', false],
    ['f', false],
    ['F', false],
    ['FALSE', false],
    ['false', false],
    ['False', false],
    ['yes', undefined],
    ['tRUE', undefined],
    ['', undefined],
    [' true', undefined],
  ])('%j → %s', (value, expected) => {
    expect(parseGoBool(value)).toBe(expected);
  });
});

describe('autoImportDecision', () => {
  it('labels a managed cluster nobody decided about', () => {
    expect(autoImportDecision(cluster(), namespace(), always)).toStrictEqual({ label: true });
    expect(autoImportDecision(cluster(), undefined, always)).toStrictEqual({ label: true });
  });

  it('never labels a cluster of the caapf strategy: CAAPF registers it with Fleet already', () => {
    const caapf = { 'llmstack.dev/import-strategy': 'caapf' };
    expect(autoImportDecision(cluster(caapf), namespace(), always)).toStrictEqual({ label: false, reason: 'FleetAddonProvider' });
    // not even when someone removed its explicit "false"
    expect(autoImportDecision(cluster(caapf), undefined, always)).toStrictEqual({ label: false, reason: 'FleetAddonProvider' });
    expect(autoImportDecision(cluster({ 'llmstack.dev/import-strategy': 'rancher' }), namespace(), always)).toStrictEqual({ label: true });
  });

  it('leaves clusters it does not manage alone', () => {
    expect(autoImportDecision(cluster(), namespace(), never)).toStrictEqual({ label: false, reason: 'NotManaged' });
  });

  it('never fights an explicit choice on the Cluster, whatever the Namespace says', () => {
    expect(autoImportDecision(cluster({ [IMPORT]: 'true' }), namespace(), always)).toStrictEqual({ label: false, reason: 'AlreadyLabelled' });
    expect(autoImportDecision(cluster({ [IMPORT]: 'false' }), namespace({ [IMPORT]: 'true' }), always)).toStrictEqual({ label: false, reason: 'ClusterOptedOut' });
    expect(autoImportDecision(cluster({ [IMPORT]: '0' }), namespace(), always)).toStrictEqual({ label: false, reason: 'ClusterOptedOut' });
    // Turtles reads a value it cannot parse as "do not import"; so do we, and we do not "fix" it.
    expect(autoImportDecision(cluster({ [IMPORT]: 'yes' }), namespace(), always)).toStrictEqual({ label: false, reason: 'ClusterLabelInvalid' });
  });

  it('leaves the decision to the Namespace when it has the label', () => {
    expect(autoImportDecision(cluster(), namespace({ [IMPORT]: 'true' }), always)).toStrictEqual({ label: false, reason: 'NamespaceLabelled' });
    expect(autoImportDecision(cluster(), namespace({ [IMPORT]: 'false' }), always)).toStrictEqual({ label: false, reason: 'NamespaceOptedOut' });
    expect(autoImportDecision(cluster(), namespace({ [IMPORT]: 'maybe' }), always)).toStrictEqual({ label: false, reason: 'NamespaceLabelInvalid' });
  });

  it('skips clusters Turtles marked imported, and clusters being deleted', () => {
    expect(autoImportDecision(cluster({}, { imported: 'true' }), namespace(), always)).toStrictEqual({ label: false, reason: 'ImportedAnnotation' });
    expect(autoImportDecision(cluster({}, { imported: '' }), namespace(), always)).toStrictEqual({ label: false, reason: 'ImportedAnnotation' });
    expect(autoImportDecision(cluster({}, undefined, true), namespace(), always)).toStrictEqual({ label: false, reason: 'Deleting' });
  });
});

describe('managedBy', () => {
  it('manages every cluster the generator labelled with llmstack.dev/stack', () => {
    const managed = managedBy([]);
    expect(managed(cluster({ 'llmstack.dev/stack': 'demo' }))).toBe(true);
    expect(managed(cluster({ env: 'dev' }))).toBe(false);
    expect(managed({})).toBe(false);
  });

  it('manages clusters matching any configured selector', () => {
    const managed = managedBy([selector('env=dev,team in (a,b)'), selector('llm')]);
    expect(managed(cluster({ env: 'dev', team: 'b' }))).toBe(true);
    expect(managed(cluster({ env: 'dev', team: 'c' }))).toBe(false);
    expect(managed(cluster({ llm: '' }))).toBe(true);
    expect(autoImportDecision(cluster({ env: 'dev', team: 'a' }), namespace(), { managed })).toStrictEqual({ label: true });
    expect(autoImportDecision(cluster({ env: 'prod' }), namespace(), { managed })).toStrictEqual({ label: false, reason: 'NotManaged' });
  });
});

describe('parseLabelSelector', () => {
  it('parses the equality- and set-based forms', () => {
    expect(parseLabelSelector('env=dev, tier==web ,zone!=eu,team in (b, a, b),stage notin (x),gpu,!legacy,cores>4,age<10')).toStrictEqual({
      requirements: [
        { key: 'env', operator: '=', values: ['dev'] },
        { key: 'tier', operator: '=', values: ['web'] },
        { key: 'zone', operator: '!=', values: ['eu'] },
        { key: 'team', operator: 'in', values: ['a', 'b'] },
        { key: 'stage', operator: 'notin', values: ['x'] },
        { key: 'gpu', operator: 'exists', values: [] },
        { key: 'legacy', operator: '!', values: [] },
        { key: 'cores', operator: 'gt', values: ['4'] },
        { key: 'age', operator: 'lt', values: ['10'] },
      ],
    });
  });

  it('takes prefixed keys, empty values and the empty selector', () => {
    expect(parseLabelSelector('topology.cluster.x-k8s.io/deployment-name=md-0,llmstack.dev/stack')).toStrictEqual({
      requirements: [
        { key: 'topology.cluster.x-k8s.io/deployment-name', operator: '=', values: ['md-0'] },
        { key: 'llmstack.dev/stack', operator: 'exists', values: [] },
      ],
    });
    expect(parseLabelSelector('env=')).toStrictEqual({ requirements: [{ key: 'env', operator: '=', values: [''] }] });
    expect(parseLabelSelector('env=,x')).toStrictEqual({
      requirements: [
        { key: 'env', operator: '=', values: [''] },
        { key: 'x', operator: 'exists', values: [] },
      ],
    });
    expect(parseLabelSelector('   ')).toStrictEqual({ requirements: [] });
  });

  it.each([
    ['env=dev,', 'label selector "env=dev,": expected a requirement after "," at the end'],
    ['env in (a,b', 'label selector "env in (a,b": expected "," or ")" at the end'],
    ['env in a', 'label selector "env in a": expected "(" after in at "a" (position 8)'],
    ['env dev', 'label selector "env dev": expected an operator (=, ==, !=, in, notin, <, >) or "," at "dev" (position 5)'],
    ['=dev', 'label selector "=dev": expected a label key at "=" (position 1)'],
    ['cores>many', 'label selector "cores>many": expected an integer after ">" at "many" (position 7)'],
    ['env=dev=x', 'label selector "env=dev=x": expected "," at "=" (position 8)'],
    ['-bad=x', 'label selector "-bad=x": key "-bad": name must be 1-63 alphanumeric characters, \'-\', \'_\' or \'.\', starting and ending alphanumeric'],
    ['Bad_Prefix/x=y', 'label selector "Bad_Prefix/x=y": key "Bad_Prefix/x": prefix must be a DNS subdomain'],
    ['env=-dev', 'label selector "env=-dev": value "-dev": must be at most 63 alphanumeric characters, \'-\', \'_\' or \'.\', starting and ending alphanumeric'],
    [`env=${'a'.repeat(64)}`, `label selector "env=${'a'.repeat(64)}": value "${'a'.repeat(64)}": must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric`],
  ])('rejects %j', (text, error) => {
    expect(parseLabelSelector(text)).toStrictEqual({ error });
  });
});

describe('matchesLabelSelector', () => {
  const labels = { env: 'dev', team: 'a', cores: '8', empty: '' };
  it.each([
    ['', true],
    ['env=dev', true],
    ['env==prod', false],
    ['env!=prod', true],
    ['missing!=x', true],
    ['team in (a,b)', true],
    ['team in (c)', false],
    ['missing in (a)', false],
    ['team notin (c)', true],
    ['team notin (a)', false],
    ['missing notin (a)', true],
    ['env', true],
    ['missing', false],
    ['!missing', true],
    ['!env', false],
    ['empty=', true],
    ['empty', true],
    ['cores>4', true],
    ['cores<4', false],
    ['env>4', false],
    ['missing<4', false],
    ['env=dev,team in (a),!legacy', true],
    ['env=dev,team in (b)', false],
  ])('%j → %s', (text, expected) => {
    expect(matchesLabelSelector(selector(text), labels)).toBe(expected);
  });

  it('treats no labels as an empty set', () => {
    expect(matchesLabelSelector(selector('!x'), undefined)).toBe(true);
    expect(matchesLabelSelector(selector('x'), undefined)).toBe(false);
  });
});
