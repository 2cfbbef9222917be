// The llmstack command line: each command parses its flags and calls the library.
import { Command, Option } from 'commander';
import { z } from 'zod';
import { EXIT, UserError } from '../errors.js';
import { Stack } from '../spec/schema.js';
import { controllerCommand } from './controller.js';
import { diffCommand } from './diff.js';
import { generateCommand } from './generate.js';
import { initCommand } from './init.js';
import { secretsCommand } from './secrets.js';
import { statusCommand } from './status.js';
import { validateCommand } from './validate.js';

const print = (s: string) => process.stdout.write(`${s}\n`);
const note = (s: string) => process.stderr.write(`llmstack: ${s}\n`);

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** The spec's JSON Schema (input shape: defaults are optional), published as schema/llmstack.schema.json. */
export function jsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(Stack, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...rest } = schema;
  return { $schema, $id: 'https://llmstack.dev/schema/v1alpha1/stack.json', title: 'llmstack Stack', ...rest };
}

export function buildProgram(): Command {
  const program = new Command('llmstack')
    .description('One spec → a GitOps repository of Cluster API clusters and Fleet bundles for self-scaling LLMs')
    .version('0.1.0')
    .showHelpAfterError();

  const specOpt = () => new Option('-s, --spec <file>', 'the Stack spec (default: ./llmstack.yaml, else the built-in quickstart)');
  const bundlesOpt = () => new Option('--bundles <dir>', 'an extra Fleet bundle catalog folder (repeatable)').argParser(collect);

  program
    .command('init')
    .description('write a commented starter spec')
    .option('-o, --out <file>', 'where to write it', 'llmstack.yaml')
    .option('--name <name>', 'stack name')
    .option('--force', 'overwrite an existing file')
    .action(async (o) => initCommand(o, print));

  program
    .command('generate')
    .description('render the spec and commit it to the Git repository (push when the spec names a remote)')
    .addOption(specOpt())
    .option('--out <dir>', 'local working copy (created when missing; default ./gitops without spec.git.url)')
    .option('--remote <url>', 'Git remote to clone and push when it differs from spec.git.url, the URL Fleet pulls (env LLMSTACK_GIT_REMOTE)')
    .option('--dry-run', 'print what would change; write nothing')
    .option('--no-push', 'commit but do not push')
    .addOption(bundlesOpt())
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o) => {
      await generateCommand(o, print, note);
    });

  program
    .command('validate')
    .description('check the spec, and the rendered objects against CRD schemas (--crds) or a live API server (--server)')
    .addOption(specOpt())
    .option('--crds <dir>', 'folder of CustomResourceDefinition YAML files (default: $LLMSTACK_CRDS_DIR)')
    .option('--server', 'server-side dry run of every object on the cluster of the kubeconfig')
    .option('--kubeconfig <file>', 'kubeconfig for --server')
    .addOption(bundlesOpt())
    .action(async (o) => {
      process.exitCode = await validateCommand(o, print, note);
    });

  program
    .command('diff')
    .description('show what generate would change, per file and per object (exit 4 when there are changes)')
    .addOption(specOpt())
    .option('--out <dir>', 'local working copy to compare with (default ./gitops without spec.git.url)')
    .option('--remote <url>', 'Git remote when it differs from spec.git.url (env LLMSTACK_GIT_REMOTE)')
    .addOption(bundlesOpt())
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o) => {
      const diffs = await diffCommand(o, print, note);
      process.exitCode = diffs.length > 0 ? EXIT.changes : EXIT.ok;
    });

  program
    .command('secrets')
    .description('make the Secrets the clusters read exist on the management cluster: generate llmstack\'s own keys, name missing ones (exit 4 when some are missing)')
    .addOption(specOpt())
    .option('--kubeconfig <file>', 'kubeconfig of the management cluster (default: $KUBECONFIG, ~/.kube/config)')
    .option('--check', 'only report; create nothing')
    .addOption(bundlesOpt())
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o) => {
      process.exitCode = await secretsCommand(o, print, note);
    });

  program
    .command('status')
    .description("show the controller's report per cluster (exit 0 when every cluster is Ready, 4 otherwise)")
    .option('--kubeconfig <file>', 'kubeconfig of the management cluster (default: $KUBECONFIG, ~/.kube/config)')
    .option('-n, --namespace <ns>', 'only this namespace')
    .option('-A, --all-namespaces', 'every namespace (the default without -n)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .option('-w, --watch', 'keep watching; print again when something changes')
    .action(async (o) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.exitCode = await statusCommand(o, print, ac.signal);
    });

  program
    .command('controller')
    .description('run the controller on the management cluster: auto-import, rollout and autoscaler reports')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, else the pod service account)')
    .option('-n, --namespace <ns>', 'watch CAPI clusters in this namespace only')
    .option('--selector <selector>', 'also auto-import clusters matching this label selector (repeatable)', collect)
    .option('--no-auto-import', 'report only; never label clusters for Rancher auto-import')
    .option('--workers <n>', 'clusters reconciled in parallel', '16')
    .option('--label-workers <n>', 'more workers only for clusters waiting for their auto-import label', '16')
    .option('--listen <addr>', 'address for /metrics, /healthz, /readyz', ':8080')
    .option('--leader-elect', 'run as one of several replicas, coordinated by a Lease')
    .option('--lease-namespace <ns>', 'namespace of the Lease', 'llmstack-system')
    .option('--autoscaler-poll <seconds>', "how often to read each cluster's autoscaler status", '30')
    .action(async (o) => {
      await controllerCommand(o);
    });

  program
    .command('schema')
    .description('print the JSON Schema of the spec (for editors)')
    .action(() => {
      print(JSON.stringify(jsonSchema(), null, 2));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.render()}\n`);
      return e.exitCode;
    }
    process.stderr.write(`llmstack: internal error (please report it):\n${(e as Error).stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}

const isEntry = process.argv[1] && /(^|[/\\])(main\.ts|llmstack(\.js)?)$/.test(process.argv[1]);
if (isEntry) process.exitCode = await main(process.argv);
