// `kubectl get llmclusters -A` and `llmstack status` show the same columns, in the same order.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatTable } from '../../src/cli/status.js';
import { repoRoot } from '../support/paths.js';

describe('LLMCluster printer columns', () => {
  it('are the columns of llmstack status (kubectl adds NAMESPACE and NAME itself; -o wide adds the commit)', () => {
    const crd = parse(readFileSync(path.join(repoRoot, 'manifests/crds/llmstack.dev_llmclusters.yaml'), 'utf8')) as {
      spec: { versions: Array<{ additionalPrinterColumns: Array<{ name: string; priority?: number }> }> };
    };
    const columns = crd.spec.versions[0]!.additionalPrinterColumns;
    const shown = columns.filter((c) => !c.priority).map((c) => c.name.toUpperCase());
    const header = formatTable([]).split('\n')[0]!.split(/\s+/);
    expect(['NAMESPACE', 'NAME', ...shown]).toStrictEqual(header);
    expect(columns.filter((c) => c.priority).map((c) => c.name)).toStrictEqual(['Commit']);
  });
});
