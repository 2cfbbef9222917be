// The published JSON Schema is current, and editors using it accept every example.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { jsonSchema } from '../../src/cli/main.js';
import { exampleFiles } from '../support/examples.js';
import { repoRoot } from '../support/paths.js';

const published = JSON.parse(readFileSync(path.join(repoRoot, 'schema/llmstack.schema.json'), 'utf8'));

describe('JSON Schema', () => {
  it('is up to date (regenerate with `npm run schema`)', () => {
    expect(published).toStrictEqual(jsonSchema());
  });

  it('accepts every example and rejects an unknown field', () => {
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(published);
    for (const f of exampleFiles) {
      const doc = parse(readFileSync(path.join(repoRoot, 'examples', f), 'utf8'));
      expect(validate(doc), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    expect(validate({ apiVersion: 'llmstack.dev/v1alpha1', kind: 'Stack', metadata: { name: 'x' }, spec: { clusterz: [] } })).toBe(false);
  });
});
