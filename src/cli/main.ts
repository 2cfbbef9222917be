// The llmstack command line: each command parses its flags and calls the library. Flags follow kubectl:
// -o/--output for formats, --kubeconfig/--context/-n/-A where a command talks to a cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../catalog/load.js';
import { EXIT, EXIT_MEANINGS, UserError } from '../errors.js';
import { Stack } from '../spec/schema.js';
import { formatOutput } from './common.js';
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

/** The package's own version, so `--version` never drifts from package.json. */
export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The spec's JSON Schema (input shape: defaults are optional), published as schema/llmstack.schema.json. */
export function jsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(Stack, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...rest } = schema;
  return { $schema, $id: 'https://llmstack.dev/schema/v1alpha1/stack.json', title: 'llmstack Stack', ...rest };
}

/** A whole number of at least min: "abc", "1.5", "" and "-1" are refused instead of becoming NaN. */
export function integerFlag(min: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
      throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    }
    return Number(value);
  };
}

/** Seconds, at least min (fractions allowed): a poll interval of "abc" or 0 would spin. */
export function secondsFlag(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value.trim()) || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected seconds, at least ${min}`);
    return n;
  };
}

/** host:port or port, as the controller's --listen takes it. */
export function listenFlag(value: string): string {
  const port = value.slice(value.lastIndexOf(':') + 1);
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new InvalidArgumentError('expected [host]:port with a port from 0 to 65535, e.g. :8080');
  return value;
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => (l.startsWith('#') ? `  ${l}` : `  $ ${l}`)).join('\n')}\n`;

export function buildProgram(): Command {
  const program = new Command('llmstack')
    .description('One spec → a GitOps repository of Cluster API clusters and Fleet bundles for self-scaling LLMs')
    .version(VERSION)
    .showHelpAfterError('(add --help for usage and examples)')
    // Usage errors become UserErrors with exit 2 in main(); commander must not exit the process itself.
    .exitOverride()
    .addHelpText('after', `\nExit codes:\n${Object.entries(EXIT_MEANINGS).map(([code, what]) => `  ${code}  ${what}`).join('\n')}\n\nRun \`llmstack <command> --help\` for its flags and examples.\n`);

  const specOpt = () => new Option('-s, --spec <file>', 'the Stack spec (default: ./llmstack.yaml, else the built-in quickstart)');
  const bundlesOpt = () => new Option('--bundles <dir>', 'an extra Fleet bundle catalog folder (repeatable)').argParser(collect);
  const outputOpt = (choices: string[]) => new Option('-o, --output <format>', 'output format').choices(choices).default(choices[0]);
  const kubeconfigOpt = (what: string) => new Option('--kubeconfig <file>', what);
  const contextOpt = () => new Option('--context <name>', 'the kubeconfig context to use (default: its current-context)');
  const allNamespacesOpt = (what: string) => new Option('-A, --all-namespaces', what).conflicts('namespace');

  program
    .command('init')
    .description('write a commented starter spec')
    .option('--out <file>', 'where to write it', 'llmstack.yaml')
    .option('--name <name>', 'stack name')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', examples(['llmstack init', 'llmstack init --name team-a --out team-a.yaml', 'llmstack generate --spec team-a.yaml']))
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
    .addOption(outputOpt(['text', 'json', 'yaml']))
    .addHelpText(
      'after',
      examples([
        '# the built-in quickstart into a new local repository ./gitops',
        'llmstack generate',
        'llmstack generate --spec llmstack.yaml --out ./gitops',
        'llmstack generate --spec llmstack.yaml --dry-run -o json',
        '# push through a port-forward while Fleet pulls spec.git.url',
        'LLMSTACK_GIT_USERNAME=me LLMSTACK_GIT_PASSWORD=$TOKEN llmstack generate --remote http://localhost:3000/me/gitops.git',
      ]),
    )
    .action(async (o) => {
      await generateCommand(o, print, note);
    });

  program
    .command('validate')
    .description('check the spec, and the rendered objects against CRD schemas (--crds) or a live API server (--server); exit 4 on invalid objects')
    .addOption(specOpt())
    .option('--crds <dir>', 'folder of CustomResourceDefinition YAML files (default: $LLMSTACK_CRDS_DIR)')
    .option('--server', 'server-side dry run of every object on the cluster of the kubeconfig')
    .addOption(kubeconfigOpt('kubeconfig for --server (default: $KUBECONFIG, ~/.kube/config)'))
    .addOption(contextOpt())
    .option('-n, --namespace <ns>', "for --server: namespace of objects that name none (default: the context's, else default)")
    .addOption(bundlesOpt())
    .addOption(outputOpt(['text', 'json', 'yaml']))
    .addHelpText(
      'after',
      examples([
        'llmstack validate --spec llmstack.yaml',
        'llmstack validate --spec llmstack.yaml --crds ./crds -o json',
        'llmstack validate --spec llmstack.yaml --server --context kind-llmstack',
      ]),
    )
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
    .addOption(outputOpt(['text', 'json', 'yaml']))
    .addHelpText(
      'after',
      examples(['llmstack diff --spec llmstack.yaml', 'llmstack diff --spec llmstack.yaml --out ./gitops -o yaml', '# in a script: 0 nothing to do, 4 changes', 'llmstack diff -s llmstack.yaml >/dev/null || llmstack generate -s llmstack.yaml']),
    )
    .action(async (o) => {
      const diffs = await diffCommand(o, print, note);
      process.exitCode = diffs.length > 0 ? EXIT.changes : EXIT.ok;
    });

  program
    .command('secrets')
    .description("make the Secrets the clusters read exist on the management cluster: create llmstack's own keys, name missing ones (exit 4 when some are missing)")
    .addOption(specOpt())
    .addOption(kubeconfigOpt('kubeconfig of the management cluster (default: $KUBECONFIG, ~/.kube/config)'))
    .addOption(contextOpt())
    .option('--check', 'only report; create nothing')
    .addOption(bundlesOpt())
    .addOption(outputOpt(['text', 'json']))
    .addHelpText('after', examples(['llmstack secrets --spec llmstack.yaml', 'llmstack secrets --spec llmstack.yaml --check -o json', 'llmstack secrets -s llmstack.yaml --context kind-llmstack']))
    .action(async (o) => {
      process.exitCode = await secretsCommand(o, print, note);
    });

  program
    .command('status')
    .description("show the controller's report per cluster (exit 0 when every cluster is Ready, 4 otherwise)")
    .addOption(kubeconfigOpt('kubeconfig of the management cluster (default: $KUBECONFIG, ~/.kube/config)'))
    .addOption(contextOpt())
    .option('-n, --namespace <ns>', 'only this namespace')
    .addOption(allNamespacesOpt('every namespace (the default without -n)'))
    .addOption(outputOpt(['table', 'json', 'yaml']))
    .option('-w, --watch', 'keep watching; print again when a report changes (Ctrl-C ends it)')
    .addHelpText(
      'after',
      examples(['llmstack status', 'llmstack status -n default -o yaml', 'llmstack status --context kind-llmstack --watch', '# wait until every cluster is Ready', 'until llmstack status >/dev/null; do sleep 10; done']),
    )
    .action(async (o) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      process.exitCode = await statusCommand(o, print, ac.signal, note);
    });

  program
    .command('controller')
    .description('run the controller on the management cluster: auto-import, rollout and autoscaler reports')
    .addOption(kubeconfigOpt("kubeconfig (default: $KUBECONFIG, ~/.kube/config, else the pod's service account)"))
    .addOption(contextOpt())
    .option('-n, --namespace <ns>', 'watch CAPI clusters in this namespace only')
    .addOption(allNamespacesOpt('watch every namespace (the default without -n)'))
    .option('--selector <selector>', 'also auto-import clusters matching this label selector (repeatable)', collect)
    .option('--no-auto-import', 'report only; never label clusters for Rancher auto-import')
    .option('--workers <n>', 'clusters reconciled in parallel', integerFlag(1), 16)
    .option('--label-workers <n>', 'more workers only for clusters waiting for their auto-import label (0: none)', integerFlag(0), 16)
    .option('--listen <addr>', 'address for /metrics, /healthz, /readyz', listenFlag, ':8080')
    .option('--leader-elect', 'run as one of several replicas, coordinated by a Lease')
    .option('--lease-namespace <ns>', 'namespace of the Lease', 'llmstack-system')
    .option('--autoscaler-poll <seconds>', "how often to read each cluster's autoscaler status", secondsFlag(1), 30)
    .addHelpText(
      'after',
      examples(['llmstack controller --kubeconfig ~/.kube/config', 'llmstack controller --context kind-llmstack -n default --no-auto-import', '# in the Deployment of manifests/controller', 'llmstack controller --leader-elect --listen :8080']),
    )
    .action(async (o) => {
      process.exitCode = await controllerCommand(o);
    });

  program
    .command('schema')
    .description('print the JSON Schema of the spec (for editors)')
    .addOption(outputOpt(['json', 'yaml']))
    .addHelpText('after', examples(['llmstack schema > llmstack.schema.json']))
    .action((o: { output: 'json' | 'yaml' }) => {
      print(formatOutput(jsonSchema(), o.output));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    // Commander has printed its message (unknown option, bad choice, missing argument...); --help and
    // --version end here too, with exit code 0.
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.invalidInput;
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.render()}\n`);
      return e.exitCode;
    }
    process.stderr.write(`llmstack: internal error (please report it):\n${(e as Error).stack ?? String(e)}\n`);
    return EXIT.internal;
  }
}

// `tsx src/cli/main.ts` (npm run llmstack) runs it directly; bin/llmstack.js imports it and calls main().
const isEntry = process.argv[1] && /(^|[/\\])main\.[jt]s$/.test(process.argv[1]);
if (isEntry) process.exitCode = await main(process.argv);
