// Whether the controller should put Rancher Turtles' auto-import label on a CAPI Cluster. The label is
// only ever added where nobody decided anything: an explicit value on the Cluster or its Namespace,
// or Turtles' own `imported` annotation, always wins.
//
// Turtles' rules (rancher/turtles util/import.go ShouldAutoImport, util/predicates): the Cluster's label
// is read first and any value there is final (parsed with Go's strconv.ParseBool; a value that does not
// parse counts as "do not import"); only a Cluster without the label falls back to its Namespace's.
// Clusters annotated `imported` (set by Turtles when the Rancher cluster was removed) are skipped.
import { LABEL, UPSTREAM } from '../render/labels.js';
import type { ObjectLike } from './report.js';

/** Label and annotation keys Rancher Turtles reads or writes (rancher/turtles internal/controllers/helpers.go). */
export const TURTLES = {
  autoImport: UPSTREAM.rancherAutoImport,
  /** On the management.cattle.io Cluster Turtles creates: the CAPI Cluster's name and namespace. */
  ownerName: 'cluster-api.cattle.io/capi-cluster-owner',
  ownerNamespace: 'cluster-api.cattle.io/capi-cluster-owner-ns',
  /** Annotation on the CAPI Cluster: Turtles leaves it alone (util/annotations ClusterImportedAnnotation). */
  importedAnnotation: 'imported',
} as const;

/** Go's strconv.ParseBool, which Turtles uses for the label value; undefined when it does not parse. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** The auto-import label of one object: absent, a boolean, or a value Turtles cannot parse. */
export type AutoImportLabel = { set: false } | { set: true; value: boolean | undefined; raw: string };

export function autoImportLabel(obj: ObjectLike | undefined): AutoImportLabel {
  const raw = obj?.metadata?.labels?.[TURTLES.autoImport];
  if (typeof raw !== 'string') return { set: false };
  return { set: true, value: parseGoBool(raw), raw };
}

/** A cluster llmstack generated for the `caapf` import strategy. */
export function isFleetAddonCluster(cluster: ObjectLike): boolean {
  return cluster.metadata?.labels?.[LABEL.importStrategy] === 'caapf';
}

export const AUTO_IMPORT_SKIP = {
  Deleting: 'Deleting',
  ImportedAnnotation: 'ImportedAnnotation',
  AlreadyLabelled: 'AlreadyLabelled',
  ClusterOptedOut: 'ClusterOptedOut',
  ClusterLabelInvalid: 'ClusterLabelInvalid',
  NamespaceLabelled: 'NamespaceLabelled',
  NamespaceOptedOut: 'NamespaceOptedOut',
  NamespaceLabelInvalid: 'NamespaceLabelInvalid',
  NotManaged: 'NotManaged',
  FleetAddonProvider: 'FleetAddonProvider',
} as const;
export type AutoImportSkipReason = (typeof AUTO_IMPORT_SKIP)[keyof typeof AUTO_IMPORT_SKIP];

export type AutoImportDecision = { label: true } | { label: false; reason: AutoImportSkipReason };

export function autoImportDecision(
  cluster: ObjectLike,
  namespace: ObjectLike | undefined,
  opts: { managed: (cluster: ObjectLike) => boolean },
): AutoImportDecision {
  const skip = (reason: AutoImportSkipReason): AutoImportDecision => ({ label: false, reason });
  if (cluster.metadata?.deletionTimestamp) return skip(AUTO_IMPORT_SKIP.Deleting);
  // Whatever else the labels say: CAAPF registers this cluster with Fleet already.
  if (isFleetAddonCluster(cluster)) return skip(AUTO_IMPORT_SKIP.FleetAddonProvider);
  if (cluster.metadata?.annotations?.[TURTLES.importedAnnotation] !== undefined) return skip(AUTO_IMPORT_SKIP.ImportedAnnotation);
  const own = autoImportLabel(cluster);
  if (own.set) {
    if (own.value === true) return skip(AUTO_IMPORT_SKIP.AlreadyLabelled);
    return skip(own.value === false ? AUTO_IMPORT_SKIP.ClusterOptedOut : AUTO_IMPORT_SKIP.ClusterLabelInvalid);
  }
  const ns = autoImportLabel(namespace);
  if (ns.set) {
    // A Namespace label already makes Turtles import (true) or is someone's decision (false, or a
    // value we cannot read): either way the Cluster needs nothing from us.
    if (ns.value === true) return skip(AUTO_IMPORT_SKIP.NamespaceLabelled);
    return skip(ns.value === false ? AUTO_IMPORT_SKIP.NamespaceOptedOut : AUTO_IMPORT_SKIP.NamespaceLabelInvalid);
  }
  if (!opts.managed(cluster)) return skip(AUTO_IMPORT_SKIP.NotManaged);
  return { label: true };
}

// ---- Label selectors (the string form of k8s.io/apimachinery/pkg/labels.Parse) ----

export type SelectorOperator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface SelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

export interface LabelSelector {
  /** All must hold; none means "everything", as in Kubernetes. */
  requirements: SelectorRequirement[];
}

type Token = { kind: 'id' | 'op'; text: string; at: number };

// Characters that end an identifier, as in the apimachinery lexer.
const SPECIAL = new Set(['=', '!', '(', ')', ',', '<', '>', ' ', '\t', '\n', '\r']);

function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const two = input.slice(i, i + 2);
    if (two === '==' || two === '!=') {
      out.push({ kind: 'op', text: two, at: i });
      i += 2;
    } else if ('=!(),<>'.includes(c)) {
      out.push({ kind: 'op', text: c, at: i });
      i++;
    } else {
      const start = i;
      while (i < input.length && !SPECIAL.has(input[i]!)) i++;
      out.push({ kind: 'id', text: input.slice(start, i), at: start });
    }
  }
  return out;
}

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function keyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `key "${key}": prefix must be a DNS subdomain`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `key "${key}": name must be 1-63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric`;
  }
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value)) {
    return `value "${value}": must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric`;
  }
  return undefined;
}

/** Parses "env=dev,team in (a,b),!legacy,tier notin (x),gpu"; never throws. */
export function parseLabelSelector(input: string): LabelSelector | { error: string } {
  const tokens = tokenize(input);
  const requirements: SelectorRequirement[] = [];
  let p = 0;
  const peek = () => tokens[p];
  const fail = (what: string): { error: string } => {
    const t = peek();
    return { error: `label selector "${input}": ${what}${t ? ` at "${t.text}" (position ${t.at + 1})` : ' at the end'}` };
  };
  const isKeyword = (t: Token | undefined) => t?.kind === 'id' && (t.text === 'in' || t.text === 'notin');

  if (tokens.length === 0) return { requirements };
  for (;;) {
    let t = peek();
    let negated = false;
    if (t?.kind === 'op' && t.text === '!') {
      negated = true;
      p++;
      t = peek();
    }
    if (!t || t.kind !== 'id' || isKeyword(t)) return fail('expected a label key');
    const key = t.text;
    const kp = keyProblem(key);
    if (kp) return { error: `label selector "${input}": ${kp}` };
    p++;
    const next = peek();
    if (negated) {
      requirements.push({ key, operator: '!', values: [] });
    } else if (!next || (next.kind === 'op' && next.text === ',')) {
      requirements.push({ key, operator: 'exists', values: [] });
    } else if (next.kind === 'op' && (next.text === '=' || next.text === '==' || next.text === '!=')) {
      p++;
      const v = peek();
      let value = '';
      if (v && v.kind === 'id' && !isKeyword(v)) {
        value = v.text;
        p++;
      } else if (v && !(v.kind === 'op' && v.text === ',')) {
        return fail('expected a value');
      }
      const vp = valueProblem(value);
      if (vp) return { error: `label selector "${input}": ${vp}` };
      requirements.push({ key, operator: next.text === '!=' ? '!=' : '=', values: [value] });
    } else if (isKeyword(next)) {
      p++;
      if (!(peek()?.kind === 'op' && peek()!.text === '(')) return fail(`expected "(" after ${next.text}`);
      p++;
      const values: string[] = [];
      for (;;) {
        const v = peek();
        if (v?.kind === 'op' && v.text === ')' && values.length === 0) {
          values.push('');
          break;
        }
        if (!v || v.kind !== 'id' || isKeyword(v)) return fail('expected a value');
        const vp = valueProblem(v.text);
        if (vp) return { error: `label selector "${input}": ${vp}` };
        values.push(v.text);
        p++;
        const sep = peek();
        if (sep?.kind === 'op' && sep.text === ',') {
          p++;
          continue;
        }
        if (sep?.kind === 'op' && sep.text === ')') break;
        return fail('expected "," or ")"');
      }
      p++; // ")"
      requirements.push({ key, operator: next.text as 'in' | 'notin', values: [...new Set(values)].sort() });
    } else if (next.kind === 'op' && (next.text === '>' || next.text === '<')) {
      p++;
      const v = peek();
      if (!v || v.kind !== 'id' || !/^-?\d+$/.test(v.text)) return fail(`expected an integer after "${next.text}"`);
      p++;
      requirements.push({ key, operator: next.text === '>' ? 'gt' : 'lt', values: [v.text] });
    } else {
      return fail('expected an operator (=, ==, !=, in, notin, <, >) or ","');
    }
    const sep = peek();
    if (!sep) break;
    if (sep.kind === 'op' && sep.text === ',') {
      p++;
      if (!peek()) return fail('expected a requirement after ","');
      continue;
    }
    return fail('expected ","');
  }
  return { requirements };
}

export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = has ? l[r.key] : undefined;
    switch (r.operator) {
      case '=':
      case 'in':
        return has && r.values.includes(v!);
      case '!=':
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        return r.operator === 'gt' ? n > bound : n < bound;
      }
    }
  });
}

/**
 * The controller's notion of "managed": generated by llmstack (the generator labels every Cluster
 * with llmstack.dev/stack) or matched by one of the selectors from the controller's configuration.
 * As in Kubernetes an empty selector matches everything, so the configuration should not pass one
 * unless it means "every Cluster".
 */
export function managedBy(selectors: readonly LabelSelector[]): (cluster: ObjectLike) => boolean {
  return (cluster) => {
    const labels = cluster.metadata?.labels;
    if (labels && Object.prototype.hasOwnProperty.call(labels, LABEL.stack)) return true;
    return selectors.some((s) => matchesLabelSelector(s, labels));
  };
}
